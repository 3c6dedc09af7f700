"""Stopping an apply: the `stop` event a signal sets, and how a read of the directory gives way
to it (a read cut short loses nothing; a call in flight is never cut so, see the applier)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """`stop` was set while an apply was still reading (settling intents, refreshing)."""


async def until_stopped(stop: asyncio.Event | None, work: Awaitable[T]) -> T:
    """`work`'s result; Stopped, with `work` cancelled, when `stop` is set first. Only reads
    of the directory are raced so: cutting them short loses nothing."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, stopping, return_exceptions=True)
    if task.cancelled():
        raise Stopped
    return task.result()
