"""The process pool: sized to the CPUs and the work, never used for a small tree, results in
order whichever worker finishes first, and a broken pool's work done by this process."""

from __future__ import annotations

import os
import threading
import time

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


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_results_come_back_in_the_order_of_the_tasks(method: str) -> None:
    if method == "fork" and (not hasattr(os, "fork") or threading.active_count() > 1):
        pytest.skip("fork is unsafe or absent here (a thread runs; Windows)")
    tasks = [(n, os.getpid()) for n in range(6)]
    found = list(pool.ordered_map(slow_start_of_the_workers_share, tasks, workers=2, method=method))
    assert [n for n, _ in found] == list(range(6))
    by = {n: pid for n, pid in found}
    assert {by[n] for n in (0, 1, 2)} == {os.getpid()}  # this process's share
    assert by[3] != os.getpid()  # a worker's


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
