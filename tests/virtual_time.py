"""Virtual time for tests of concurrent sleepers (client, rate limiter, sandbox)."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable
from typing import Any


class VirtualTime:
    """A clock that jumps to the next wake-up whenever every task is waiting; records sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, len(self.sleeps), future))
        await future

    def run(self, coro: Awaitable[Any]) -> Any:
        async def drive() -> Any:
            task = asyncio.ensure_future(coro)
            while not task.done():
                for _ in range(50):  # let every runnable task reach its next wait
                    await asyncio.sleep(0)
                if self._sleepers and not task.done():
                    wake, _, future = heapq.heappop(self._sleepers)
                    self.now = max(self.now, wake)
                    future.set_result(None)
            return task.result()

        return asyncio.run(drive())
