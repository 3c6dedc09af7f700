"""The stat index (.reconciler/cache/): a plan made with it equals one made without it whatever
is edited, touched, renamed or replaced (within one tick of the filesystem's clock too); an
unchanged file is not opened; a corrupt or foreign index is ignored; `--no-cache` bypasses it;
it is never committed."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from factories import GATEWAY, Repo, hierarchies, organization, write_organizations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import reconcile
from reconciler.errors import LoadError, ReconcilerError
from reconciler.reconcile.workspace import Workspace
from reconciler.records import loader, stat_index, walk
from reconciler.records.loader import Records
from reconciler.records.stat_index import DATABASE, FOLDER
from reconciler.render import render_json, render_text


def outcome(root: Path, env: str, *, cache: bool) -> str:
    """What `plan` shows: the JSON and text plans, or every problem found."""
    ws = Workspace(repo=root, env_name=env, cache=cache)
    try:
        plan = reconcile.plan(ws)
        return render_json(plan) + render_text(plan)
    except LoadError as exc:
        return "\n".join(str(p) for p in exc.problems)
    except ReconcilerError as exc:
        return str(exc)


def records(root: Path, env: str = "sandbox") -> Records:
    return Workspace(repo=root, env_name=env).records


@pytest.fixture(autouse=True)
def index_small_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The index from the first file (a tree of fewer than loader.INDEX_FROM is read whole)."""
    monkeypatch.setattr(loader, "INDEX_FROM", 0)


def _tick_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem whose timestamps tick once a second (HFS+, many network filesystems): a
    test's edits land in the tick of the plan that read the file before them."""
    grain = 1_000_000_000
    real_of, real_clock = walk.stat_of, stat_index.StatIndex._clock

    def of(st: os.stat_result) -> walk.Stat | None:
        found = real_of(st)
        if found is None:
            return None
        size, mtime, ctime, ino = walk.stat_fields(found)
        return walk.stat_from(size, mtime // grain * grain, ctime // grain * grain, ino)

    def clock(self: stat_index.StatIndex) -> int | None:
        now = real_clock(self)
        return None if now is None else now // grain * grain

    monkeypatch.setattr(walk, "stat_of", of)
    monkeypatch.setattr(stat_index.StatIndex, "_clock", clock)


@pytest.fixture
def coarse_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _tick_once_a_second(monkeypatch)


# --- edits --------------------------------------------------------------------------------

Edit = Callable[[Path, random.Random], None]


def _files(root: Path) -> list[Path]:
    return sorted((root / "orgs").glob("*.yaml"))


def _records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The files that hold a mapping (a garbled one holds none), with it."""
    found = []
    for path in _files(root):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError, OverflowError):
            # PyYAML's pure-Python scanner raises ValueError or OverflowError (not YAMLError)
            # on some escapes its own dumper wrote for characters beyond the BMP: such a file
            # is left as it is (the plans still compare on it).
            continue
        if isinstance(data, dict):
            found.append((path, data))
    return found


def _set(root: Path, rng: random.Random, key: str, value: Any) -> None:
    records = _records(root)
    if records:
        path, data = rng.choice(records)
        data[key] = value
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")


def _same_size(text: str, rng: random.Random) -> str | None:
    """`text` with one digit of a name or OID changed: other content, the same size."""
    spots = [i for i, c in enumerate(text) if c in "0123456789"]
    if not spots:
        return None
    i = rng.choice(spots)
    return text[:i] + str((int(text[i]) + 1 + rng.randrange(8)) % 10) + text[i + 1 :]


def rewrite_in_place(root: Path, rng: random.Random) -> None:
    """Other bytes of the same size, written into the same inode, the mtime put back: only
    the ctime (and the clock of the plan that read it) can tell."""
    path = rng.choice(_files(root))
    before = path.stat()
    changed = _same_size(path.read_text(encoding="utf-8"), rng)
    if changed is not None:
        with path.open("r+", encoding="utf-8") as handle:
            handle.write(changed)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def replace_by_rename(root: Path, rng: random.Random) -> None:
    """Other bytes of the same size moved over the file (a new inode), the mtime put back, as
    an editor that saves atomically and keeps the time does."""
    path = rng.choice(_files(root))
    before = path.stat()
    changed = _same_size(path.read_text(encoding="utf-8"), rng)
    if changed is not None:
        temporary = path.with_name(".saving")
        temporary.write_text(changed, encoding="utf-8")
        os.utime(temporary, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(temporary, path)


def swap(root: Path, rng: random.Random) -> None:
    """Two files trade their bytes (a record moves from one file to the other)."""
    files = _files(root)
    if len(files) > 1:
        a, b = rng.sample(files, 2)
        text_a, text_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(text_b)
        b.write_bytes(text_a)


def touch(root: Path, rng: random.Random) -> None:
    """A new mtime, the same bytes (git checkout, an editor's save without a change)."""
    path = rng.choice(_files(root))
    stamp = time.time_ns() - rng.choice([0, 10**9, 10**12])
    os.utime(path, ns=(stamp, stamp))


def rename(root: Path, rng: random.Random) -> None:
    path = rng.choice(_files(root))
    path.rename(path.with_name(f"renamed-{rng.randrange(10**6)}.yaml"))


def duplicate(root: Path, rng: random.Random) -> None:
    path = rng.choice(_files(root))
    (path.parent / f"copy-{rng.randrange(10**6)}.yaml").write_bytes(path.read_bytes())


def remove(root: Path, rng: random.Random) -> None:
    files = _files(root)
    if len(files) > 1:
        rng.choice(files).unlink()


def garble(root: Path, rng: random.Random) -> None:
    rng.choice(_files(root)).write_text("oid: [unclosed\n", encoding="utf-8")


def restyle(root: Path, rng: random.Random) -> None:
    records = _records(root)
    if records:
        path, data = rng.choice(records)
        text = yaml.safe_dump(data, sort_keys=True, default_flow_style=rng.choice([True, False]))
        path.write_text("# restyled\n" + text, encoding="utf-8")


def add(root: Path, rng: random.Random) -> None:
    number = rng.randrange(100, 10**6)
    record = organization(number, name=f"Added {number}", active=rng.choice([True, False]))
    (root / "orgs" / f"added-{number}.yaml").write_text(yaml.safe_dump(record), encoding="utf-8")


def resettle(root: Path, rng: random.Random) -> None:
    """Change reconciler.yaml: what every record's wire form may depend on."""
    choice: dict[str, Any] = {"directory": f"Directory {rng.randrange(1000)}"}
    if rng.random() < 0.5:
        choice["external_parents"] = [GATEWAY[:-1] + "9"]
    (root / "reconciler.yaml").write_text(yaml.safe_dump(choice), encoding="utf-8")


def undirect(root: Path, rng: random.Random) -> None:
    """Leave a record's directory to reconciler.yaml."""
    records = _records(root)
    if records:
        path, data = rng.choice(records)
        data.pop("directory", None)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def wait_a_tick(root: Path, rng: random.Random) -> None:
    """Let the clock move on, so that the next plan trusts what it reads."""
    time.sleep(0.03)


EDITS: list[Edit] = [
    lambda root, rng: _set(root, rng, "name", f"Renamed {rng.randrange(1000)}"),
    lambda root, rng: _set(root, rng, "active", rng.choice([True, False])),
    lambda root, rng: _set(root, rng, "destination_id", {"development": "d-1"}),
    lambda root, rng: _set(root, rng, "aliases", ["A", f"B{rng.randrange(9)}"]),
    lambda root, rng: _set(root, rng, "address", {"city": "Verona", "country": "DE"}),
    rewrite_in_place,
    rewrite_in_place,
    replace_by_rename,
    swap,
    touch,
    rename,
    duplicate,
    remove,
    garble,
    restyle,
    add,
    undirect,
    resettle,
    wait_a_tick,
    wait_a_tick,
]


def _check_random_edits(
    records: list[dict[str, Any]], edits: list[int], env: str, seed: int
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_organizations(Path(tmp), records).root
        assert outcome(root, env, cache=True) == outcome(root, env, cache=False)
        for number in edits:
            EDITS[number](root, rng)
            # Twice: the first plan fills the index with the edit, the second reads it back.
            uncached = outcome(root, env, cache=False)
            assert outcome(root, env, cache=True) == uncached, EDITS[number]
            assert outcome(root, env, cache=True) == uncached, EDITS[number]
        assert (root / FOLDER / DATABASE).exists()


_EDIT_LISTS = st.lists(st.sampled_from(range(len(EDITS))), min_size=1, max_size=8)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    records=hierarchies(),
    edits=_EDIT_LISTS,
    env=st.sampled_from(["sandbox", "development", "production"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_an_indexed_plan_equals_an_unindexed_one_after_random_edits(
    records: list[dict[str, Any]], edits: list[int], env: str, seed: int
) -> None:
    _check_random_edits(records, edits, env, seed)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(records=hierarchies(), edits=_EDIT_LISTS, seed=st.integers(0, 2**32 - 1))
def test_the_same_on_a_filesystem_whose_clock_ticks_once_a_second(
    records: list[dict[str, Any]], edits: list[int], seed: int
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _tick_once_a_second(monkeypatch)
        _check_random_edits(records, edits, "sandbox", seed)


# --- what is opened -------------------------------------------------------------------------


@pytest.fixture
def indexed(repo: Callable[..., Repo]) -> Repo:
    """Three valid records, planned once after the clock moved on: the index trusts them."""
    made = repo(orgs={f"clinic-{n}": organization(n) for n in (1, 2, 3)})
    time.sleep(0.03)
    assert records(made.root).opened == 3
    return made


def test_an_unchanged_file_is_not_opened(indexed: Repo) -> None:
    again = records(indexed.root)
    assert (again.opened, again.parsed) == (0, 0)
    assert outcome(indexed.root, "sandbox", cache=True) == outcome(
        indexed.root, "sandbox", cache=False
    )


def test_a_changed_file_alone_is_opened_and_parsed(indexed: Repo) -> None:
    indexed.org("clinic-2", organization(2, name="Changed"))
    found = records(indexed.root)
    assert (found.opened, found.parsed) == (1, 1)
    assert outcome(indexed.root, "sandbox", cache=True) == outcome(
        indexed.root, "sandbox", cache=False
    )


@pytest.mark.parametrize("how", ["touch", "rename", "copy"])
def test_known_bytes_under_a_new_stat_are_opened_not_parsed(indexed: Repo, how: str) -> None:
    path = indexed.root / "orgs" / "clinic-2.yaml"
    if how == "touch":
        os.utime(path, ns=(1, 10**18))
    elif how == "rename":
        path.rename(path.with_name("moved.yaml"))
    else:
        (path.parent / "copy.yaml").write_bytes(path.read_bytes())
    found = records(indexed.root) if how != "copy" else None
    if found is not None:
        assert (found.opened, found.parsed) == (1, 0)
        assert outcome(indexed.root, "sandbox", cache=True) == outcome(
            indexed.root, "sandbox", cache=False
        )
    else:  # the copy holds the same OID: both say so, as without the index
        assert "already used" in outcome(indexed.root, "sandbox", cache=True)
        assert outcome(indexed.root, "sandbox", cache=True) == outcome(
            indexed.root, "sandbox", cache=False
        )


def test_a_file_written_in_the_tick_of_the_plan_is_read_again(
    repo: Callable[..., Repo], coarse_clock: None
) -> None:
    made = repo(orgs={"clinic": organization(1)})
    path = made.root / "orgs" / "clinic.yaml"
    key = f"organization:{organization(1)['oid']}"
    for attempt in range(20):  # until the plan and the edit fall within one tick
        name = f"Test Facility {attempt % 10}"
        made.org("clinic", organization(1, name=name))
        assert records(made.root).opened == 1
        # Same size, same inode, the mtime put back: every field of the stat as indexed.
        before = path.stat()
        edited = f"Test Facility {(attempt + 1) % 10}"
        path.write_text(path.read_text(encoding="utf-8").replace(name, edited), encoding="utf-8")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if walk.stat_of(path.stat()) == walk.stat_of(before):
            break
    else:
        pytest.fail("every attempt crossed a tick of the clock")
    found = records(made.root)
    assert found.opened == 1
    assert edited in found.desired[key].packed_payload


# --- never truth --------------------------------------------------------------------------


def _db(made: Repo) -> sqlite3.Connection:
    return sqlite3.connect(made.root / FOLDER / DATABASE)


def test_a_corrupt_database_is_ignored_and_started_again(indexed: Repo) -> None:
    database = indexed.root / FOLDER / DATABASE
    database.write_bytes(b"this is not a database" * 100)
    truth = outcome(indexed.root, "sandbox", cache=False)
    assert outcome(indexed.root, "sandbox", cache=True) == truth
    with _db(indexed) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone() == (3,)  # written again
    assert outcome(indexed.root, "sandbox", cache=True) == truth


def _damage(made: Repo, sql: str) -> None:
    with _db(made) as db:
        db.execute(sql)


DAMAGES = {
    # A payload that no longer has the digest its record carries: the file is read again.
    "payload": "UPDATE payloads SET payload = replace(payload, 'Test Facility', 'Evil Facility')",
    # Values edited without their checksum.
    "active": "UPDATE records SET active = 1 - active",
    "cross": "UPDATE records SET cross = replace(cross, '777', '778')",
    "json": "UPDATE records SET cross = 'not json', checksum = 0",
    # Each file's row points at another file's record.
    "foreign": "UPDATE files SET raw = (SELECT raw FROM files f2 WHERE f2.path > files.path "
    "ORDER BY f2.path LIMIT 1) WHERE path < 'orgs/clinic-3.yaml'",
    "format": "UPDATE meta SET value = 'some other format' WHERE key = 'format'",
    "stat": "UPDATE files SET stat = zeroblob(32)",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_or_foreign_index_is_never_truth(indexed: Repo, damage: str) -> None:
    _damage(indexed, DAMAGES[damage])
    truth = outcome(indexed.root, "sandbox", cache=False)
    assert "Evil" not in truth
    assert outcome(indexed.root, "sandbox", cache=True) == truth
    assert outcome(indexed.root, "sandbox", cache=True) == truth


def test_an_index_copied_from_elsewhere_is_not_this_machines(indexed: Repo) -> None:
    """An index found in another file than the one it was written to (cp -r of a repository, a
    restored cache, an index committed by mistake and checked out) counts as absent, and is
    replaced whole."""
    database = indexed.root / FOLDER / DATABASE
    with _db(indexed) as db:  # what a forger would write: a payload and its digest, consistent
        db.execute("UPDATE payloads SET payload = replace(payload, 'Test Facility', 'Forged')")
    copy = database.with_name("copy")
    shutil.copyfile(database, copy)
    os.replace(copy, database)  # the same bytes, another file
    found = records(indexed.root)
    assert (found.opened, found.parsed) == (3, 3)
    assert "Forged" not in outcome(indexed.root, "sandbox", cache=True)
    with _db(indexed) as db:
        assert "Forged" not in str(list(db.execute("SELECT payload FROM payloads")))
    assert records(indexed.root).opened == 0  # this machine's again


def test_a_payload_gone_from_the_index_is_read_from_the_file(indexed: Repo) -> None:
    found = records(indexed.root)
    _damage(indexed, "DELETE FROM payloads")
    truth = Workspace(repo=indexed.root, env_name="sandbox", cache=False).records.desired
    assert {k: d.packed_payload for k, d in found.desired.items()} == {
        k: d.packed_payload for k, d in truth.items()
    }


def test_a_file_changed_after_it_was_indexed_is_named_not_planned_stale(indexed: Repo) -> None:
    found = records(indexed.root)
    _damage(indexed, "DELETE FROM payloads")
    indexed.org("clinic-2", organization(2, name="Changed meanwhile"))
    key = f"organization:{organization(2)['oid']}"
    with pytest.raises(ReconcilerError, match=r"orgs/clinic-2\.yaml changed while the command ran"):
        _ = found.desired[key].packed_payload


def test_no_cache_neither_reads_nor_writes_it(
    repo: Callable[..., Repo], run_cli: Callable[..., Result]
) -> None:
    made = repo(orgs={"clinic": organization(1)})
    plain = run_cli("plan", "--no-cache", repo=made)
    assert plain.exit_code == 0, plain.output
    assert not (made.root / FOLDER).exists()
    before = run_cli("--no-cache", "validate", repo=made)
    assert before.exit_code == 0, before.output
    assert not (made.root / FOLDER).exists()
    assert run_cli("plan", repo=made).output == plain.output
    assert (made.root / FOLDER / DATABASE).exists()


def test_an_unwritable_folder_means_every_file_is_read(
    repo: Callable[..., Repo], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = repo(orgs={"clinic": organization(1)})
    (made.root / ".reconciler").write_text("not a folder", encoding="utf-8")
    assert outcome(made.root, "sandbox", cache=True) == outcome(made.root, "sandbox", cache=False)
    assert records(made.root).opened == 1


def test_the_index_folder_ignores_itself_for_git(indexed: Repo) -> None:
    ignore = (indexed.root / FOLDER / ".gitignore").read_text(encoding="utf-8")
    assert "\n*\n" in ignore


def test_a_change_of_settings_or_environment_is_a_new_salt(indexed: Repo) -> None:
    development = outcome(indexed.root, "development", cache=True)
    assert development == outcome(indexed.root, "development", cache=False)
    with _db(indexed) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone() == (6,)
    indexed.settings({"directory": "Elsewhere"})
    assert outcome(indexed.root, "sandbox", cache=True) == outcome(
        indexed.root, "sandbox", cache=False
    )
    with _db(indexed) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone() == (9,)


def _rows(made: Repo) -> Iterator[tuple[Any, ...]]:
    with _db(made) as db:
        yield from db.execute("SELECT path, trusted FROM files ORDER BY path")


def test_rows_follow_the_files(indexed: Repo) -> None:
    (indexed.root / "orgs" / "clinic-3.yaml").unlink()
    records(indexed.root)
    assert [path for path, _ in _rows(indexed)] == ["orgs/clinic-1.yaml", "orgs/clinic-2.yaml"]


def test_a_small_tree_is_read_without_the_index(
    repo: Callable[..., Repo], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "INDEX_FROM", 5)
    made = repo(orgs={f"clinic-{n}": organization(n) for n in range(1, 5)})
    assert records(made.root).opened == 4
    assert not (made.root / FOLDER / DATABASE).exists()
    made.org("clinic-5", organization(5))
    assert records(made.root).opened == 5
    assert (made.root / FOLDER / DATABASE).exists()
