"""Run a command and measure that command alone: its peak RSS and CPU seconds.

Why a launcher: on Linux a process's `ru_maxrss` starts from the memory of the process it was
forked from (the kernel records the old address space's high-water mark at exec). A CLI
started straight from pytest, after the suite has grown to 300 MB, reports 300 MB however
little it used. This file, run as a script (`python peak_rss.py REPORT ARGV...`), is a fresh,
small process: the command it forks starts from the launcher's few megabytes, so `wait4`
there reports what the command itself used. It writes "PEAK_BYTES CPU_SECONDS" to REPORT and
exits as the command did. `measured()` runs a command through it (tests and bench/ both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Usage:
    """What one run of a command used."""

    returncode: int
    wall: float  # seconds, including the launcher's start (about 20 ms)
    cpu: float  # user + system seconds of the command alone
    peak: int  # bytes of RSS at the command's peak


def measured(argv: list[str], *, timeout: float | None = None, **popen: Any) -> Usage:
    """Run `argv` through the launcher (Popen keyword arguments as given: cwd, env, stdout,
    ...). On `timeout`, the launcher and the command are killed together and
    subprocess.TimeoutExpired raised."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage"
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, __file__, str(report), *argv],
            start_new_session=True,  # one process group: a hang kills both
            **popen,
        )
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        wall = time.monotonic() - started
        peak, cpu = report.read_text(encoding="ascii").split()
    return Usage(returncode, wall, float(cpu), int(peak))


def main() -> None:
    report, argv = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:  # the command
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    with open(report, "w", encoding="ascii") as out:
        # ru_maxrss is in kilobytes on Linux
        out.write(f"{usage.ru_maxrss * 1024} {usage.ru_utime + usage.ru_stime}")
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) != signal.SIGKILL:  # a handler of SIGKILL cannot be set
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
