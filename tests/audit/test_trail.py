"""Appending to the audit trail: the chain over several appends, the refusal of a trail that
ends in a cut line, and the redo record that makes an interrupted append whole."""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import pytest

from reconciler.audit import GENESIS, Draft, entry_for
from reconciler.audit.entry import line_text, seal
from reconciler.audit.trail import AuditTrail
from reconciler.audit.verify import check_chain
from reconciler.errors import AuditError, SettingsError
from reconciler.reconcile.workspace import Workspace

ENV = "development"
DIGEST = "sha256:" + "c" * 64
POSIX = sys.platform != "win32"


def call(n: int, status: str = "applied") -> dict[str, object]:
    return {
        "key": f"organization:2.16.840.1.113883.3.6147.458.{n}",
        "action": "update",
        "status": status,
        "redox_log_id": f"log-{n}",
    }


def draft(result: str = "applied", calls: int = 1, env: str = ENV) -> Draft:
    return entry_for(
        environment=env,
        actor="alice",
        via="local",
        result=result,  # type: ignore[arg-type]
        plan_digest=DIGEST,
        calls=[call(n, "failed" if result == "partial" and n else "applied") for n in range(calls)],
    )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(repo=tmp_path, env_name=ENV)


def lines_of(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def sound(trail: AuditTrail) -> int:
    """The number of lines, once the chain is checked."""
    count, _last, bad, _notes, _seen = check_chain(trail.lines(), environment=ENV)
    assert bad is None, bad
    return count


def test_appends_chain_each_line_to_the_one_before(ws: Workspace) -> None:
    trail = ws.audit_trail()
    results = ["applied", "refused", "partial", "interrupted", "unverified", "applied"]
    written = [trail.append(draft(r, calls=0 if r == "refused" else 2)) for r in results]
    assert ws.audit_path == ws.repo / "audit" / "development.jsonl"
    lines = lines_of(ws.audit_path)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert [line["result"] for line in lines] == results
    assert lines[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(lines):
        assert after["prev"] == before["hash"]
    assert [line["hash"] for line in lines] == [entry.hash for entry in written]
    assert lines[1]["calls"] == []  # the refused apply sent nothing
    assert sound(trail) == 6
    assert not ws.audit_pending_path.exists()  # the redo record goes once the line is written


def test_prepare_creates_nothing_and_says_where_the_next_line_goes(ws: Workspace) -> None:
    trail = ws.audit_trail()
    empty = trail.prepare()
    assert (empty.seq, empty.hash, empty.size) == (0, GENESIS, 0)
    assert not ws.audit_path.exists()  # an apply with nothing to record leaves no file
    entry = trail.append(draft())
    tail = trail.prepare()
    assert (tail.seq, tail.hash, tail.size) == (1, entry.hash, ws.audit_path.stat().st_size)


def test_appending_reads_only_the_end_of_the_trail(ws: Workspace) -> None:
    trail = ws.audit_trail()
    trail.append(draft())
    last = trail.append(draft())
    # Whatever the start of the file holds, an append reads only the last line: the cost of an
    # append does not grow with the trail (verify is what reads it all, and finds this).
    text = ws.audit_path.read_bytes()
    first_end = text.index(b"\n")
    ws.audit_path.write_bytes(b"#" * first_end + text[first_end:])
    entry = trail.append(draft())
    assert (entry.seq, entry.prev) == (3, last.hash)
    count, _last, bad, _notes, _seen = check_chain(trail.lines(), environment=ENV)
    assert bad is not None
    assert (count, bad.number) == (0, 1)


def test_a_trail_that_ends_in_a_cut_line_is_refused_and_left_as_it_is(ws: Workspace) -> None:
    trail = ws.audit_trail()
    trail.append(draft())
    whole = ws.audit_path.read_bytes()
    line = line_text(seal(draft(), seq=2, prev=trail.prepare().hash)).encode()
    cut = whole + line[: len(line) // 2]  # what an older version killed mid-write left
    ws.audit_path.write_bytes(cut)
    for attempt in (trail.prepare, lambda: trail.append(draft())):
        with pytest.raises(AuditError) as refused:
            attempt()
        message = str(refused.value)
        assert "audit/development.jsonl ends with a line cut short" in message
        assert "git checkout -- audit/development.jsonl" in message
        assert "reconciler audit verify --env development" in message
    assert ws.audit_path.read_bytes() == cut  # never dropped, never appended after
    count, _last, bad, _notes, _seen = check_chain(trail.lines(), environment=ENV)
    assert count == 1
    assert bad is not None
    assert bad.number == 2
    assert "cut short" in bad.message


def test_a_last_line_that_is_no_entry_stops_the_append(ws: Workspace) -> None:
    trail = ws.audit_trail()
    trail.append(draft())
    text = ws.audit_path.read_text(encoding="utf-8")
    ws.audit_path.write_text(text.replace('"actor":"alice"', '"actor":"mallory"'), "utf-8")
    with pytest.raises(AuditError, match="does not match its hash"):
        trail.append(draft())
    assert ws.audit_path.read_text(encoding="utf-8").count("\n") == 1


def test_an_entry_of_another_environment_is_not_appended(ws: Workspace) -> None:
    with pytest.raises(AuditError, match=r"does not belong in audit/development\.jsonl"):
        ws.audit_trail().append(draft(env="production"))
    assert not ws.audit_path.exists()


# -- an append that was interrupted ---------------------------------------------------------


def interrupted(ws: Workspace, keep: int | None) -> tuple[AuditTrail, bytes, bytes]:
    """Two lines appended, then what a kill -9 during the third append leaves: its redo record
    and the first `keep` bytes of its line (None: all of it, the record not yet removed).
    The file before the third line, and the third line."""
    trail = ws.audit_trail()
    trail.append(draft())
    tail = trail.append(draft("refused", calls=0))
    before = ws.audit_path.read_bytes()
    line = line_text(seal(draft("interrupted", calls=80), seq=3, prev=tail.hash)).encode()
    record = {"trail": ws.audit_shown, "offset": len(before), "line": line.decode()}
    ws.audit_pending_path.parent.mkdir(parents=True, exist_ok=True)
    ws.audit_pending_path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    ws.audit_path.write_bytes(before + (line if keep is None else line[:keep]))
    return trail, before, line


@pytest.mark.parametrize(
    "keep", [0, 1, 4096, -1, None], ids=["none", "1", "4k", "all-but-1", "all"]
)
def test_an_interrupted_append_is_read_whole_and_written_whole_by_the_next(
    ws: Workspace, keep: int | None
) -> None:
    trail, before, line = interrupted(ws, keep if keep != -1 else None)
    if keep == -1:
        ws.audit_path.write_bytes(before + line[:-1])
    assert len(line) > 8192  # it spans pages: a kill can cut its write between them
    # Readers take the line from the redo record meanwhile.
    assert sound(trail) == 3
    [*_, third] = trail.lines()
    assert third.pending == (keep is not None)
    assert [e.result for e in trail.entries()] == ["applied", "refused", "interrupted"]
    # The next append writes it whole first, then its own.
    entry = trail.append(draft())
    assert entry.seq == 4
    assert ws.audit_path.read_bytes().startswith(before + line)
    assert [line["seq"] for line in lines_of(ws.audit_path)] == [1, 2, 3, 4]
    assert not ws.audit_pending_path.exists()
    assert sound(trail) == 4


def test_prepare_alone_writes_out_an_interrupted_append(ws: Workspace) -> None:
    trail, before, line = interrupted(ws, 100)
    tail = trail.prepare()
    assert ws.audit_path.read_bytes() == before + line
    assert tail.seq == 3
    assert not ws.audit_pending_path.exists()


def test_a_redo_record_that_no_longer_fits_the_trail_stops_the_append(ws: Workspace) -> None:
    trail, before, _line = interrupted(ws, 10)
    # The file was replaced since (say, restored from git without the first two lines).
    ws.audit_path.write_bytes(before[: before.index(b"\n") + 1])
    with pytest.raises(AuditError) as stopped:
        trail.append(draft())
    assert "the trail has changed since" in str(stopped.value)
    assert str(ws.audit_pending_path) in str(stopped.value)
    assert ws.audit_pending_path.exists()  # the line of an apply that happened is kept


# -- where the trail may be -----------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="needs symlinks and FIFOs")
def test_a_trail_that_leads_out_of_the_repository_is_not_written(
    ws: Workspace, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (ws.repo / "audit").symlink_to(outside)
    with pytest.raises(AuditError, match="leads outside the repository"):
        ws.audit_trail().append(draft())
    assert list(outside.iterdir()) == []


@pytest.mark.skipif(not POSIX, reason="needs FIFOs")
def test_a_fifo_named_like_the_trail_is_refused(ws: Workspace) -> None:
    ws.audit_path.parent.mkdir()
    os.mkfifo(ws.audit_path)
    with pytest.raises(AuditError, match="FIFO"):
        ws.audit_trail().append(draft())
    with pytest.raises(AuditError, match="FIFO"):
        list(ws.audit_trail().lines())


def test_the_sandbox_keeps_its_trail_with_its_local_state(tmp_path: Path) -> None:
    ws = Workspace(repo=tmp_path, env_name="sandbox")
    assert ws.audit_shown == ".reconciler/sandbox/audit.jsonl"
    ws.audit_trail().append(draft(env="sandbox"))
    assert (tmp_path / ".reconciler" / "sandbox" / "audit.jsonl").exists()


def test_an_environment_may_name_its_trail(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "environments:\n  production:\n    audit: compliance/prod-trail.jsonl\n", "utf-8"
    )
    ws = Workspace(repo=tmp_path, env_name="production")
    assert ws.audit_shown == "compliance/prod-trail.jsonl"
    assert Workspace(repo=tmp_path, env_name="development").audit_shown == (
        "audit/development.jsonl"
    )


def test_two_environments_cannot_share_a_trail(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(
        "environments:\n  staging:\n    audit: audit/production.jsonl\n", "utf-8"
    )
    with pytest.raises(SettingsError) as refused:
        Workspace(repo=tmp_path, env_name="staging").audit_trail()
    assert str(refused.value) == (
        "reconciler.yaml: environments production and staging both keep their audit trail in "
        "audit/production.jsonl: give each its own (the default is audit/<name>.jsonl)"
    )
