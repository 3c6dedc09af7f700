"""The memory figure of tests/hostile.py is the CLI's own, not pytest's.

On Linux a child's `ru_maxrss` starts from its parent's memory at exec: CI once failed 75
hostile-input rows at "296 MB" that were the size of the pytest process, not of the CLI."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hostile import PEAK_RSS, ROW_RSS_LIMIT, run

pytestmark = pytest.mark.posix  # os.fork and wait4

MB = 2**20


def _peak(*code: str) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "peak"
        done = subprocess.run(
            [sys.executable, str(PEAK_RSS), str(report), sys.executable, "-c", ";".join(code)],
            check=False,
        )
        return done.returncode, int(report.read_text(encoding="ascii"))


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


def test_a_command_that_uses_memory_is_measured() -> None:
    code, peak = _peak("b = bytearray(250 * 2**20)", "b[::4096] = b'x' * len(b[::4096])")
    assert code == 0
    assert peak > 250 * MB


def test_the_commands_exit_code_comes_through() -> None:
    code, peak = _peak("import sys", "sys.exit(3)")
    assert code == 3
    assert 0 < peak < 100 * MB
