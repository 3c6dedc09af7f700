"""Progress of an apply on stderr: a bar on a terminal, one log line per call otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

BAR_WIDTH = 24
REDRAW_EVERY = 0.1  # seconds: a fast apply must not spend its time redrawing


def _clock_time(seconds: float) -> str:
    minutes, rest = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def bar(done: int, total: int, elapsed: float, *, failed: int = 0, skipped: int = 0) -> str:
    """`[##########--------------] 146/300  24.1 calls/s  0:06 left  2 failed`."""
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    rate = done / elapsed if elapsed > 0 and done else 0.0
    left = _clock_time((total - done) / rate) if rate else "-:--"
    text = (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total}  "
        f"{rate:.1f} calls/s  {left} left"
    )
    if failed:
        text += f"  {failed} failed"
    if skipped:
        text += f"  {skipped} skipped"
    return text


class ApplyProgress:
    """Called with each outcome of an apply. On a terminal: a bar with done/total, calls/s,
    time left and failures so far, with each failure printed above it; otherwise one line per
    call, for logs."""

    def __init__(self, *, interactive: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.interactive = interactive
        self._clock = clock
        self.total = 0
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self._started = clock()
        self._drawn_at: float | None = None  # when the bar was last drawn (None: not shown)

    def start(self, total: int) -> None:
        """The plan is about to be carried out: `total` changes."""
        self.total = total
        self._started = self._clock()
        if self.interactive:
            self._draw(force=True)

    def __call__(self, outcome: Any) -> None:
        line = f"{outcome.status}: {outcome.action} {outcome.key}"
        if outcome.message:
            line += f" ({outcome.message})"
        if outcome.status in {"resolved", "dropped"}:
            self.note(f"interrupted apply: {line}")
            return
        self.done += 1
        self.failed += outcome.status in {"failed", "refused"}
        self.skipped += outcome.status == "skipped"
        if not self.interactive:
            click.echo(line, err=True)
            return
        if outcome.status in {"failed", "refused", "skipped", "in_flight"}:
            self.note(line)
        else:
            self._draw(force=self.done == self.total)

    def note(self, text: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.interactive and self._drawn_at is not None:
            click.echo("\r\x1b[K" + text, err=True, color=True)
            self._draw(force=True)
        else:
            click.echo(text, err=True)

    def finish(self) -> None:
        """Leave the bar as it ended, on a line of its own."""
        if self.interactive and self._drawn_at is not None:
            self._draw(force=True)
            click.echo("", err=True)
            self._drawn_at = None

    def _draw(self, *, force: bool) -> None:
        now = self._clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        text = bar(
            self.done,
            self.total,
            now - self._started,
            failed=self.failed,
            skipped=self.skipped,
        )
        click.echo("\r\x1b[K" + text, err=True, nl=False, color=True)
