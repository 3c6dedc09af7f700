"""Running the CLI on hostile input: a real subprocess, timed, its peak memory measured, and
the checks every answer must pass (no traceback, no bug report, an exit code of 0, 1 or 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from peak_rss import measured
from sandbox_server import clean_environ

from reconciler.cli.base import BUG

GUARD = 10.0  # seconds: an answer later than this is a hang (the fuzz limit)
RSS_LIMIT = 300 * 1024 * 1024  # bytes: the fuzz suite's limit
ROW_RSS_LIMIT = 200 * 1024 * 1024  # bytes: each row of the table


@dataclass(frozen=True)
class Answer:
    """What one run of the CLI gave: exit code, output, seconds and peak memory."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int  # bytes

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"reconciler {' '.join(self.args)}: exit {self.returncode} after {self.seconds:.2f}s, "
            f"{self.max_rss / 2**20:.0f} MB\n--- stdout\n{self.stdout[:3000]}\n"
            f"--- stderr\n{self.stderr[:3000]}"
        )


def assert_no_bug(text: str) -> None:
    """No traceback and no report of the CLI's catch-all: a fallback never hides a bug."""
    assert "Traceback (most recent call last)" not in text, text[-3000:]
    assert BUG not in text, text[-3000:]


def _environ(environ: Mapping[str, str] | None) -> dict[str, str]:
    return dict(environ) if environ is not None else clean_environ({"NO_COLOR": "1"})


def run(
    repo: Path, *args: str, environ: Mapping[str, str] | None = None, guard: float = GUARD
) -> Answer:
    """`reconciler --repo REPO ARGS` in a subprocess, measured: its own peak RSS (through
    tests/peak_rss.py, whose docstring says why a launcher; 0 on Windows, which has no
    wait4), killed with its launcher after `guard` seconds."""
    argv = [sys.executable, "-m", "reconciler", "--repo", str(repo), *args]
    if not hasattr(os, "wait4"):  # pragma: no cover - Windows: time only
        return _run_unmeasured(repo, argv, environ, guard)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            usage = measured(
                argv,
                timeout=guard,
                cwd=repo,
                env=_environ(environ),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        except subprocess.TimeoutExpired:
            err.seek(0)
            raise AssertionError(
                f"reconciler {' '.join(args)} did not answer within {guard}s (a hang):\n"
                + err.read().decode(errors="replace")[-3000:]
            ) from None
        out.seek(0)
        err.seek(0)
        return Answer(
            tuple(args),
            usage.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.wall,
            usage.peak,
        )


def assert_sound(answer: Answer, *, rss_limit: int = RSS_LIMIT) -> None:
    """The checks every answer passes, whatever the input."""
    assert_no_bug(answer.output)
    assert answer.returncode in (0, 1, 2), answer.describe()
    assert answer.max_rss < rss_limit, answer.describe()


def assert_refused(answer: Answer, *names: str) -> None:
    """A clear error: exit 1, naming each of `names`, under the row's memory limit."""
    assert_sound(answer, rss_limit=ROW_RSS_LIMIT)
    assert answer.returncode == 1, answer.describe()
    for name in names:
        assert name in answer.output, answer.describe()
    assert len(answer.output) < 20_000, answer.describe()  # never the input back in bulk


def _run_unmeasured(
    repo: Path, argv: list[str], environ: Mapping[str, str] | None, guard: float
) -> Answer:  # pragma: no cover - Windows
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=repo,
            env=_environ(environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=guard,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{' '.join(argv[3:])} did not answer within {guard}s (a hang)"
        ) from None
    return Answer(
        tuple(argv[5:]),
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        time.monotonic() - start,
        0,
    )
