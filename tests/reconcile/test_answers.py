"""The kept answers' store (reconcile/answers.py): fingerprints of what an answer is made of, the
clock that decides whether it may be kept, and what is read back. The whole path, through the
entry point in new processes, is tests/cli/test_kept.py's."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest
from factories import example_repository

from reconciler.cli import kept as cli_kept
from reconciler.reconcile import answers
from reconciler.reconcile.workspace import Workspace

QUESTION = "ab" * 32


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return example_repository(tmp_path / "repo", providers=True)


def _recorded(repo: Path, data: bytes = b"7 records valid.\n") -> str:
    path = answers.recording_path(str(repo))
    Path(path).write_bytes(data)
    return path


def _inputs(repo: Path) -> answers.Inputs:
    ws = Workspace(repo, "sandbox")
    ws.records  # noqa: B018 -- the walk the loader makes, as a command makes it
    return ws.read_inputs()


def _keep(repo: Path, inputs: answers.Inputs, *, clock: int, data: bytes = b"x\n") -> bool:
    return answers.keep(
        str(repo),
        QUESTION,
        clock=clock,
        inputs=inputs,
        recording=_recorded(repo, data),
        parts=[(1, len(data))],
        code=0,
    )


def test_the_loaders_walk_and_a_walk_now_agree_until_a_file_changes(repo: Path) -> None:
    inputs = _inputs(repo)
    assert inputs.walked is not None
    assert inputs.folders == ("orgs", "providers")
    now = answers.walk_again(str(repo), inputs.folders)
    assert now.digest == inputs.walked.digest
    (repo / "orgs" / "northwind-health.yaml").write_text("oid: 1\n", encoding="utf-8")
    assert answers.walk_again(str(repo), inputs.folders).digest != inputs.walked.digest


def test_a_file_is_fingerprinted_by_its_stat_or_its_absence(repo: Path) -> None:
    absent = answers.files_fingerprint(str(repo), ["ledger/sandbox.json"])
    assert absent.newest == 0
    (repo / "ledger").mkdir()
    (repo / "ledger" / "sandbox.json").write_text("{}", encoding="utf-8")
    present = answers.files_fingerprint(str(repo), ["ledger/sandbox.json"])
    assert present.digest != absent.digest
    assert present.newest >= (repo / "ledger" / "sandbox.json").stat().st_mtime_ns
    (repo / "ledger" / "link.json").symlink_to(repo / "ledger" / "sandbox.json")
    linked = answers.files_fingerprint(str(repo), ["ledger/link.json"])
    assert linked.newest == answers.UNTRUSTED


def test_an_answer_is_kept_only_when_its_inputs_are_older_than_the_runs_clock(
    repo: Path,
) -> None:
    inputs = _inputs(repo)
    newest = max(answers.inputs_fingerprint(str(repo), inputs).newest, 0)
    assert not _keep(repo, inputs, clock=newest)  # a file in the clock's own tick: racy
    assert answers.kept(str(repo), QUESTION) is None
    assert [p.name for p in Path(answers.folder(str(repo))).iterdir()] == []  # removed
    assert _keep(repo, inputs, clock=time.time_ns() + 1, data=b"out\n")
    found = answers.kept(str(repo), QUESTION)
    assert found is not None
    assert list(found.chunks()) == [(1, b"out\n")]


def test_an_answer_is_not_read_once_an_input_changed(repo: Path) -> None:
    inputs = _inputs(repo)
    assert _keep(repo, inputs, clock=time.time_ns() + 1)
    found = answers.kept(str(repo), QUESTION)
    assert found is not None
    found.handle.close()
    (repo / "reconciler.yaml").write_text("missing: deactivate\n", encoding="utf-8")
    assert answers.kept(str(repo), QUESTION) is None


def test_the_code_fingerprint_follows_the_folders_python_imports_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    before = answers.code_fingerprint()
    assert before == answers.code_fingerprint()
    time.sleep(0.01)
    (site / "newly_installed").mkdir()  # pip install: a new folder in site-packages
    assert answers.code_fingerprint().digest != before.digest


def test_only_the_last_answers_are_kept(repo: Path) -> None:
    inputs = _inputs(repo)
    later = time.time_ns() + 1
    for n in range(answers.KEEP + 3):
        question = f"{n:02d}" * 32
        recording = _recorded(repo)
        assert answers.keep(
            str(repo),
            question,
            clock=later,
            inputs=inputs,
            recording=recording,
            parts=[(1, 17)],
            code=0,
        )
        os.utime(answers.answer_path(str(repo), question), (n, n))
    left = sorted(p.name for p in Path(answers.folder(str(repo))).iterdir())
    assert len(left) == answers.KEEP
    assert left[0].startswith("03")


def test_a_recording_larger_than_the_limit_is_not_kept(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "MAX_BYTES", 10)
    path = answers.recording_path(str(repo))
    with open(path, "wb") as sink:
        asked = cli_kept.Question(str(repo), QUESTION)
        recording = cli_kept.Recording(asked, 0, path, sink, (sys.stdout, sys.stderr))
        recording.add(1, b"12345")
        recording.add(2, b"678")
        assert recording.parts == [[1, 5], [2, 3]]
        assert not recording.spoiled
        recording.add(1, b"9abc")
        assert recording.spoiled


def test_a_run_whose_streams_have_no_descriptor_is_not_recorded(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An embedding host's streams (no file descriptor): the command runs unrecorded, and no
    recording is left behind."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["reconciler", "validate"])
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    cli_kept.answer()
    assert sys.stdout is out
    assert sys.stderr is err
    assert cli_kept._recording is None
    assert list(Path(answers.folder(str(repo))).glob("*.tmp")) == []
