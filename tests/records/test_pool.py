"""The process pool: sized to the CPUs and the work, never used for a small tree, results in
order whichever worker finishes first, and a broken pool's work done by this process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.records import pool


def test_small_trees_are_read_in_this_process() -> None:
    assert pool.worker_count(pool.POOL_FROM, None) == 1
    assert pool.worker_count(pool.POOL_FROM, 8) == 1
    assert pool.worker_count(pool.POOL_FROM + 1, 1) == 1


def test_the_pool_is_sized_to_the_cpus_and_the_chunks() -> None:
    files = 100 * pool.CHUNK
    assert pool.worker_count(files, None) == pool.available_cpus()
    assert pool.worker_count(files, 3) == 3
    assert pool.worker_count(pool.POOL_FROM + 1, 64) == -(-(pool.POOL_FROM + 1) // pool.CHUNK)


def test_the_cpus_are_those_this_process_may_use() -> None:
    if hasattr(os, "sched_getaffinity"):
        assert pool.available_cpus() == len(os.sched_getaffinity(0))
    assert pool.available_cpus() >= 1


def test_chunks_keep_the_order() -> None:
    items = list(range(10))
    assert pool.chunks(items, 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def slow_start_of_the_workers_share(task: tuple[int, int]) -> tuple[int, int]:
    """Task 3, the first the workers take (this process takes the first half), finishes last:
    the results must still come back in the order of the tasks."""
    number, _parent = task
    if number == 3:
        time.sleep(0.3)
    return number, os.getpid()


def _check_order(method: str) -> None:
    tasks = [(n, os.getpid()) for n in range(6)]
    found = list(pool.ordered_map(slow_start_of_the_workers_share, tasks, workers=2, method=method))
    assert [n for n, _ in found] == list(range(6))
    by = {n: pid for n, pid in found}
    assert {by[n] for n in (0, 1, 2)} == {os.getpid()}  # this process's share
    assert by[3] != os.getpid()  # a worker's


def test_results_come_back_in_the_order_of_the_tasks_spawned() -> None:
    _check_order("spawn")


@pytest.mark.posix
def test_results_come_back_in_the_order_of_the_tasks_forked() -> None:
    # Forked from a process of its own: this test process may run threads (a test before it
    # left one, or xdist's own), and forking a process with threads is unsafe.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from test_pool import _check_order; _check_order('fork'); print('in order')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "in order"


def die_in_a_worker(task: tuple[int, int]) -> int:
    """A worker killed (out of memory, say) on its first task; this process survives it."""
    number, parent = task
    if os.getpid() != parent:
        os._exit(1)
    return number * 10


def test_a_broken_pool_leaves_the_work_to_this_process() -> None:
    tasks = [(n, os.getpid()) for n in range(5)]
    assert list(pool.ordered_map(die_in_a_worker, tasks, workers=2, method="spawn")) == [
        0,
        10,
        20,
        30,
        40,
    ]
