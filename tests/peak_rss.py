"""Run a command and report the peak RSS of that command alone.

Usage: `python tests/peak_rss.py REPORT ARGV...`: runs ARGV, writes its peak RSS in bytes to
the file REPORT, and exits with ARGV's exit code (or dies of ARGV's signal).

Why a launcher: on Linux a process's `ru_maxrss` starts from the memory of the process it was
forked from (the kernel records the old address space's high-water mark at exec). A CLI
started straight from pytest, after the suite has grown to 300 MB, reports 300 MB however
little it used. This launcher is a fresh, small process: the command it forks starts from
the launcher's few megabytes, so `wait4` here reports what the command itself used.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    report, argv = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:  # the command
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    signal.signal(signal.SIGTERM, lambda _n, _f: os.kill(pid, signal.SIGKILL))
    _pid, status, usage = os.wait4(pid, 0)
    with open(report, "w", encoding="ascii") as out:
        out.write(str(usage.ru_maxrss * 1024))  # kilobytes on Linux
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
