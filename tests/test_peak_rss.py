"""The memory figure of tests/hostile.py is the CLI's own, not pytest's.

On Linux a child's `ru_maxrss` starts from its parent's memory at exec: CI once failed 75
hostile-input rows at "296 MB" that were the size of the pytest process, not of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hostile import ROW_RSS_LIMIT, run
from peak_rss import Usage, measured

pytestmark = pytest.mark.posix  # os.fork and wait4

MB = 2**20


def _python(*code: str) -> Usage:
    return measured([sys.executable, "-c", "\n".join(code)])


def _touched(megabytes: int) -> bytearray:
    block = bytearray(megabytes * MB)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return block


def test_a_large_parent_does_not_count_as_the_childs_memory(tmp_path: Path) -> None:
    ballast = _touched(400)
    (tmp_path / "orgs").mkdir()
    answer = run(tmp_path, "validate")
    assert len(ballast) == 400 * MB
    assert answer.max_rss < ROW_RSS_LIMIT, answer.describe()
    assert answer.max_rss > 5 * MB, answer.describe()  # a Python process, measured at all


def test_a_command_that_uses_memory_and_time_is_measured() -> None:
    usage = _python(
        "b = bytearray(250 * 2**20)",
        "b[::4096] = b'x' * len(b[::4096])",
        "import time",
        "end = time.process_time() + 0.3",
        "while time.process_time() < end: pass",
    )
    assert usage.returncode == 0
    assert usage.peak > 250 * MB
    assert usage.cpu >= 0.3
    assert usage.wall >= usage.cpu * 0.9


def test_the_commands_exit_code_and_signal_come_through() -> None:
    exited = _python("import sys", "sys.exit(3)")
    assert exited.returncode == 3
    assert 0 < exited.peak < 100 * MB
    killed = _python("import os, signal", "os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == -9
