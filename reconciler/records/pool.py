"""Reading many record files on every core: a process pool, used only for large trees.

Each file is read and validated on its own (the checks across files run afterwards, in this
process), so the work splits into chunks of files that worker processes take in turn; the
results come back in the order of the chunks, which is the order a serial run reads them in.
So a plan made in a pool is the same plan, with the same problems in the same order, as one
made in a single process.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

POOL_FROM = 500  # files to parse: at or below this many, starting workers costs more than it saves
CHUNK = 128  # files a worker takes at a time: small enough to share the work out evenly

T = TypeVar("T")
R = TypeVar("R")


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, or a container's limit where Python
    knows it), not the machine's count."""
    counted: Callable[[], int | None] | None = getattr(os, "process_cpu_count", None)  # 3.13
    if counted is not None:
        return counted() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS and Windows lack it
        return os.cpu_count() or 1


def worker_count(files: int, jobs: int | None) -> int:
    """How many processes parse `files` files, this one among them: 1 for a small tree; else
    `jobs` (the available CPUs when None), no more than there are chunks."""
    if files <= POOL_FROM:
        return 1
    wanted = available_cpus() if jobs is None else jobs
    return max(1, min(wanted, -(-files // CHUNK)))


def chunks(items: Sequence[T], size: int = CHUNK) -> list[list[T]]:
    """`items` in consecutive runs of `size`."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def ordered_map(
    func: Callable[[T], R], tasks: list[T], *, workers: int, method: str | None = None
) -> Iterator[R]:
    """`map(func, tasks)`, run by `workers` processes, this one among them, the results in the
    order of `tasks`. `func` and the tasks must pickle. This process takes the first share of
    the tasks while the others start on the rest; then, in order, it waits for each result
    of theirs, or does a task itself that none of them has begun (so the work stays shared out
    when one side is slower). A pool that breaks (a worker killed) is given up: this process
    does the work left. `method`: how the workers start (default: `start_method()`)."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(func, tasks)
        return
    # Here, not above: a plan of a small tree starts without them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    own = max(1, len(tasks) // workers)
    head, tail = tasks[:own], tasks[own:]
    context = multiprocessing.get_context(method or start_method())
    pool = ProcessPoolExecutor(
        max_workers=min(workers - 1, len(tail)), mp_context=context, initializer=_worker_start
    )
    try:
        futures = [pool.submit(func, task) for task in tail]
        yield from map(func, head)
        broken = False
        for task, future in zip(tail, futures, strict=True):
            if broken or future.cancel():
                yield func(task)
                continue
            try:
                result = future.result()
            except BrokenProcessPool as exc:
                log.warning("the parsing workers stopped (%s): this process reads the rest", exc)
                broken = True
                result = func(task)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def start_method() -> str:
    """fork where it is safe and cheap (Linux, and no other thread running that a fork could
    catch holding a lock); spawn elsewhere, as Windows and macOS need."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _worker_start() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, the workers say
    # nothing (no traceback from each of them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
