"""The client's own rate limit: evenly spaced sends under `api.rate_limit`, halved by each 429
and regained while none comes (AIMD), with Retry-After honoured by every later send."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class RateLimiter:
    """Evenly spaced send slots, first come first served, at a rate that adapts to 429s (AIMD):
    each 429 halves it (never below 1/s), and it creeps back up to the configured rate while
    no 429 comes. A Retry-After holds every later send back until it has passed."""

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._ceiling = rate
        self._floor = min(1.0, rate)
        # Requests/s regained per second without a 429: from half the rate back to all of it
        # in about 12 s, so one 429 costs little and a server's real limit is found again soon.
        self._increase = max(0.5, rate / 25)
        self._sleep = sleep
        self._clock = clock
        self._next = float("-inf")
        self._sent: collections.deque[float] = collections.deque()
        self._cuts = 0  # how many times a 429 has cut the rate
        self._since = clock()  # when the rate last changed
        self.throttled = 0  # 429s seen
        self._set(rate)

    @property
    def rate(self) -> float:
        """The rate in force now, requests per second."""
        return self._rate

    def _set(self, rate: float) -> None:
        self._rate = rate
        # 5% headroom: requests that leave exactly 1/rate apart can arrive closer together
        # after network jitter, and a server counting a sliding window would then see rate+1.
        self._interval = 1.05 / rate
        # Spacing alone is not enough: a pause (garbage collection, a ledger write) lets the
        # spaced sends bunch up, so the sends of the last second are counted too.
        self._per_second = max(1, int(rate / 1.05))

    def _creep(self, now: float) -> None:
        if self._rate < self._ceiling and now > self._since:
            self._set(min(self._ceiling, self._rate + self._increase * (now - self._since)))
        self._since = max(self._since, now)

    async def acquire(self) -> int:
        """Wait for a send slot; returns the number of cuts so far, for `slow_down`."""
        while True:
            now = self._clock()
            self._creep(now)
            cuts = self._cuts
            # Reserving without an await in between keeps the reservation atomic in asyncio.
            slot = max(now, self._next)
            self._next = slot + self._interval
            if slot > now:
                await self._sleep(slot - now)
            if cuts == self._cuts:
                break
            # A 429 came while this caller waited: its slot was spaced for the old rate.
        while True:
            now = self._clock()
            # A microsecond of slack: float clocks must not spin on a vanishing wait.
            while self._sent and now - self._sent[0] >= 1.0 - 1e-6:
                self._sent.popleft()
            if len(self._sent) < self._per_second:
                break
            await self._sleep(1.0 - (now - self._sent[0]))
        self._sent.append(now)
        return cuts

    def slow_down(self, cuts: int, retry_after: float | None) -> None:
        """A 429 answered a request sent after `cuts` cuts: halve the rate, once for all the
        requests that were sent at the same rate, and hold sends back for `retry_after`."""
        self.throttled += 1
        now = self._clock()
        if cuts == self._cuts:
            self._creep(now)
            self._set(max(self._floor, self._rate / 2))
            self._cuts += 1
            # The slots reserved ahead were spaced for the old rate: the callers waiting for
            # them reserve again (see acquire), from now on.
            self._next = min(self._next, now)
            # Said once at INFO: the rest of a storm would drown the run's own lines.
            log = logger.info if self._cuts == 1 else logger.debug
            log(
                "Redox answered 429 (too many requests): slowing down to %.1f requests/s",
                self._rate,
            )
        if retry_after:
            # The server asked for a pause: no one sends before it has passed.
            self._next = max(self._next, now + retry_after)
