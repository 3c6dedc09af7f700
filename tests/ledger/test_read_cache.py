"""The ledger's read cache: a read answered from it equals a read of the file, it is used only
while the ledger file's stat vouches for it, and a damaged, foreign or racy cache is never
truth."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from factories import example_repository, ledger_entry
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_server import run_cli

from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers
from reconciler.ledger import read_cache
from reconciler.ledger.text import OnDisk
from reconciler.reconcile.workspace import Workspace

ENV = "sandbox"


def entry(n: int, name: str = "Clinic") -> ledgers.Entry:
    """Varied: some inactive, some with a commit, some unverified."""
    return ledger_entry(
        n, name=name, active=n % 3 != 0, commit="abc" if n % 2 else None, unverified=n % 5 == 0
    )


def saved(path: Path, count: int, name: str = "Clinic") -> ledgers.Ledger:
    book = replace(
        ledgers.Ledger.new(ENV),
        records={f"organization:1.2.{n}": entry(n, name) for n in range(count)},
    )
    done = ledger_file.save(path, book)
    past = time.time() - 5  # older than any run's clock: the read may be trusted
    os.utime(path, (past, past))
    return done


def read(path: Path, cache_file: Path) -> ledgers.Ledger:
    return read_cache.read(path, ENV, shown="ledger.json", root=path.parent, cache_file=cache_file)


def from_file(path: Path) -> ledgers.Ledger:
    return ledger_file.load(path, ENV, reading=True)


def payloads(ledger: ledgers.Ledger) -> dict[str, object]:
    return {key: entry.payload for key, entry in ledger.records.items()}


def test_a_read_from_the_cache_equals_a_read_of_the_file(tmp_path: Path) -> None:
    path, cache_file = tmp_path / "ledger.json", tmp_path / "cache" / "ledger.read.json"
    saved(path, 12)
    first = read(path, cache_file)
    assert cache_file.exists()
    second = read(path, cache_file)
    assert first == second == from_file(path)
    assert payloads(second) == payloads(from_file(path))  # each read from its place in the file
    assert all(type(e._in_file) is OnDisk for e in second.records.values())
    assert [e.parents for e in second.records.values()] == [("organization:1.2",)] * 12


def _rewrite(cache_file: Path, change: str, *, vouch: bool, into: str | None = None) -> None:
    """Replace `change` in the cache (by `into`, or upper case); with `vouch`, the checksum
    made to match."""
    lines = cache_file.read_text(encoding="utf-8").splitlines(keepends=True)
    body = "".join(lines[:-1])
    changed = body.replace(change, into if into is not None else change.upper())
    assert changed != body
    last = lines[-1]
    if vouch:
        last = json.dumps({"sha256": hashlib.sha256(changed.encode()).hexdigest()}) + "\n"
    cache_file.write_text(changed + last, encoding="utf-8")


def test_the_cache_is_what_answers_while_it_vouches_and_nothing_once_damaged(
    tmp_path: Path,
) -> None:
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"
    saved(path, 3)
    read(path, cache_file)
    # A body changed with its checksum made to match is what the next read gives: the file is
    # not read (which is the point of the cache).
    _rewrite(cache_file, "orgs/1.yaml", vouch=True)
    assert read(path, cache_file).records["organization:1.2.1"].source == "ORGS/1.YAML"
    # A body that does not match its checksum is ignored, and the file read again.
    _rewrite(cache_file, "orgs/2.yaml", vouch=False)
    assert read(path, cache_file) == from_file(path)
    cache_file.write_bytes(b"\x00garbage")
    assert read(path, cache_file) == from_file(path)


def test_vouches_says_whether_the_next_read_comes_from_the_cache(tmp_path: Path) -> None:
    """plan reads the records first when it does (the ledger is then light), so a wrong yes
    only costs memory; still it must follow the same head as the read."""
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"

    def vouches(environment: str = ENV) -> bool:
        return read_cache.vouches(path, environment, cache_file=cache_file)

    assert not vouches()  # no ledger, no cache
    saved(path, 3)
    assert not vouches()  # no cache yet
    read(path, cache_file)
    assert vouches()
    assert not vouches("production")
    kept = cache_file.read_bytes()
    cache_file.write_bytes(b"\x00garbage")
    assert not vouches()
    cache_file.write_bytes(kept)
    assert vouches()
    saved(path, 4)  # rewritten: another stat
    assert not vouches()


def test_a_rewritten_ledger_is_read_again(tmp_path: Path) -> None:
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"
    saved(path, 4)
    read(path, cache_file)
    saved(path, 6, name="Renamed")  # a new file: another inode, size, ctime
    again = read(path, cache_file)
    assert len(again.records) == 6
    assert again.records["organization:1.2.5"].payload["Name"] == "Renamed 5"
    assert again == from_file(path)


def test_a_ledger_written_as_the_run_reads_it_is_not_cached(tmp_path: Path) -> None:
    # "Racy git": a file whose mtime is not older than the run's clock may still change
    # within the clock's granularity without its stat showing it.
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"
    saved(path, 3)
    future = time.time() + 3600
    os.utime(path, (future, future))
    assert read(path, cache_file) == from_file(path)
    assert not cache_file.exists()


def test_a_cache_of_another_environment_or_a_copied_ledger_is_not_used(tmp_path: Path) -> None:
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"
    saved(path, 3)
    read(path, cache_file)
    _rewrite(cache_file, ":sandbox", into=":production", vouch=True)
    _rewrite(cache_file, "orgs/1.yaml", vouch=True)
    assert read(path, cache_file) == from_file(path)
    # A copy of the ledger (another inode and ctime) does not match a cache of the original.
    copy = tmp_path / "copy" / "ledger.json"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    read(path, cache_file)
    _rewrite(cache_file, "orgs/1.yaml", vouch=True)
    head = json.loads(cache_file.read_text(encoding="utf-8").split("\n", 1)[0])
    assert read_cache._stat(copy) != tuple(head["stat"])
    # A cache cut short (a full disk, a kill while it was written in place) is not used.
    whole = cache_file.read_bytes()
    cache_file.write_bytes(whole[: len(whole) // 2])
    assert read(path, cache_file) == from_file(path)


def test_a_ledger_with_intents_or_in_another_layout_is_never_cached(tmp_path: Path) -> None:
    path, cache_file = tmp_path / "ledger.json", tmp_path / "ledger.read.json"
    book = saved(path, 2)
    intent = ledgers.Intent(
        kind="organization",
        identity="1.2.9",
        action="create",
        envelope={},
        payload={"Name": "New"},
        source="orgs/9.yaml",
        started_at=ledgers.now(),
    )
    ledger_file.save(path, book.with_intent("organization:1.2.9", intent))
    os.utime(path, (time.time() - 5, time.time() - 5))
    assert read(path, cache_file) == from_file(path)
    assert not cache_file.exists()
    compact = json.dumps(json.loads(path.read_bytes()))  # read whole: no places in the file
    path.write_text(compact, encoding="utf-8")
    os.utime(path, (time.time() - 5, time.time() - 5))
    book = read(path, cache_file)
    assert book == from_file(path)
    assert not cache_file.exists()


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=1, max_size=6))
def test_any_sequence_of_writes_and_reads_reads_what_the_file_holds(
    steps: list[tuple[int, bool]], tmp_path_factory: object
) -> None:
    folder = tmp_path_factory.mktemp("seq")  # type: ignore[attr-defined]
    path, cache_file = folder / "ledger.json", folder / "ledger.read.json"
    for count, in_the_past in steps:
        book = replace(
            ledgers.Ledger.new(ENV),
            records={f"organization:1.2.{n}": entry(n, f"C{count}") for n in range(count)},
        )
        ledger_file.save(path, book)
        if in_the_past:
            os.utime(path, (time.time() - 5, time.time() - 5))
        for _ in range(2):
            got = read(path, cache_file)
            assert got == from_file(path)
            assert payloads(got) == payloads(from_file(path))


def test_plan_keeps_the_read_and_no_cache_neither_reads_nor_writes_it(tmp_path: Path) -> None:
    repo = example_repository(tmp_path / "repo")
    assert run_cli(repo, "apply", "--yes").returncode == 0
    folder = repo / ".reconciler" / "cache"
    for found in folder.glob("*.read.json"):
        found.unlink()
    ledger = Workspace(repo, "sandbox").ledger_store.path
    os.utime(ledger, (time.time() - 5, time.time() - 5))
    uncached = run_cli(repo, "plan", "--no-cache")
    assert uncached.returncode == 0, uncached.stderr
    assert list(folder.glob("*.read.json")) == []
    plans = [run_cli(repo, "plan") for _ in range(2)]
    assert len(list(folder.glob("*.read.json"))) == 1
    assert plans[0].stdout == plans[1].stdout == uncached.stdout
    assert "No changes" in plans[1].stdout
