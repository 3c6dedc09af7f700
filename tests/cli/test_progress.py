"""The progress of an apply: a bar on a terminal (done/total, calls/s, time left, failures),
one line per call otherwise."""

from __future__ import annotations

import pytest

from reconciler.cli.progress import ApplyProgress, bar
from reconciler.engine.result import Outcome


def test_the_bar_shows_done_rate_time_left_and_failures() -> None:
    assert bar(146, 300, 10.0, failed=2) == (
        "[###########-------------] 146/300  14.6 calls/s  0:11 left  2 failed"
    )
    assert bar(0, 300, 0.0) == "[------------------------] 0/300  0.0 calls/s  -:-- left"
    assert bar(300, 300, 4000.0, skipped=1).endswith("0:00 left  1 skipped")
    assert "1:06:40 left" in bar(1, 2, 4000.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def outcome(n: int, status: str = "applied", message: str = "") -> Outcome:
    return Outcome(f"organization:1.2.{n}", "create", status, message)  # type: ignore[arg-type]


def test_off_a_terminal_each_call_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ApplyProgress(interactive=False)
    progress.start(2)
    progress(outcome(1))
    progress(outcome(2, "failed", "HTTP 403"))
    progress.finish()
    assert capsys.readouterr().err == (
        "applied: create organization:1.2.1\nfailed: create organization:1.2.2 (HTTP 403)\n"
    )


def test_on_a_terminal_the_bar_is_redrawn_and_failures_print_above_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    progress = ApplyProgress(interactive=True, clock=clock)
    progress.start(3)
    clock.now = 1.0
    progress(outcome(1))
    clock.now = 1.01  # within the redraw interval: not drawn again
    progress(outcome(2, "failed", "HTTP 403"))
    clock.now = 2.0
    progress(outcome(3))
    progress.finish()
    err = capsys.readouterr().err
    frames = err.split("\r\x1b[K")
    assert frames[1] == "[------------------------] 0/3  0.0 calls/s  -:-- left"
    assert frames[2] == "[########----------------] 1/3  1.0 calls/s  0:02 left"
    assert frames[3] == "failed: create organization:1.2.2 (HTTP 403)\n"
    assert frames[-1] == "[########################] 3/3  1.5 calls/s  0:00 left  1 failed\n"
