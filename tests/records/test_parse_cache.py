"""The plan cache (.reconciler/cache/): a cached plan equals an uncached one whatever is edited,
a corrupt or foreign entry is ignored, `--no-cache` bypasses it, and it is never committed."""

from __future__ import annotations

import random
import sqlite3
import tempfile
from collections.abc import Callable
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
from reconciler.records import loader
from reconciler.records.parse_cache import DATABASE, FOLDER
from reconciler.render import render_json


def outcome(root: Path, env: str, *, cache: bool) -> str:
    """What `plan` shows: the JSON plan, or every problem found."""
    ws = Workspace(repo=root, env_name=env, cache=cache)
    try:
        return render_json(reconcile.plan(ws))
    except LoadError as exc:
        return "\n".join(str(p) for p in exc.problems)
    except ReconcilerError as exc:
        return str(exc)


Edit = Callable[[Path, random.Random], None]


def _files(root: Path) -> list[Path]:
    return sorted((root / "orgs").glob("*.yaml"))


def _records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The files that hold a mapping (a garbled one holds none), with it."""
    found = []
    for path in _files(root):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
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


EDITS: list[Edit] = [
    lambda root, rng: _set(root, rng, "name", f"Renamed {rng.randrange(1000)}"),
    lambda root, rng: _set(root, rng, "active", rng.choice([True, False])),
    lambda root, rng: _set(root, rng, "destination_id", {"development": "d-1"}),
    lambda root, rng: _set(root, rng, "aliases", ["A", f"B{rng.randrange(9)}"]),
    lambda root, rng: _set(root, rng, "address", {"city": "Verona", "country": "DE"}),
    rename,
    duplicate,
    remove,
    garble,
    restyle,
    add,
    undirect,
    resettle,
    resettle,
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=hierarchies(),
    edits=st.lists(st.sampled_from(range(len(EDITS))), min_size=1, max_size=6),
    env=st.sampled_from(["sandbox", "development", "production"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_cached_plan_equals_an_uncached_one_after_random_edits(
    records: list[dict[str, Any]], edits: list[int], env: str, seed: int
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_organizations(Path(tmp), records).root
        assert outcome(root, env, cache=True) == outcome(root, env, cache=False)
        for number in edits:
            EDITS[number](root, rng)
            # Twice: the first plan fills the cache with the edit, the second reads it back.
            uncached = outcome(root, env, cache=False)
            assert outcome(root, env, cache=True) == uncached
            assert outcome(root, env, cache=True) == uncached
        assert (root / FOLDER / DATABASE).exists()


@pytest.fixture
def cached(repo: Callable[..., Repo]) -> Repo:
    """Three valid records, planned once: the cache holds them."""
    made = repo(orgs={f"clinic-{n}": organization(n) for n in (1, 2, 3)})
    outcome(made.root, "sandbox", cache=True)
    return made


def rows(made: Repo) -> list[tuple[str, str, str]]:
    with sqlite3.connect(made.root / FOLDER / DATABASE) as db:
        return list(db.execute("SELECT key, value, payload FROM records ORDER BY key"))


def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files that are parsed from now on (not taken from the cache)."""
    parsed: list[str] = []
    real = loader.load_file

    def counting(path: Path, shown: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(shown)
        return real(path, shown, *args, **kwargs)

    monkeypatch.setattr(loader, "load_file", counting)
    return parsed


def test_an_unchanged_file_is_not_parsed_again(
    cached: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(rows(cached)) == 3
    parsed = reads(monkeypatch)
    cached.org("clinic-2", organization(2, name="Changed"))
    assert outcome(cached.root, "sandbox", cache=True) == outcome(
        cached.root, "sandbox", cache=False
    )
    assert parsed == [
        "orgs/clinic-2.yaml",
        "orgs/clinic-1.yaml",
        "orgs/clinic-2.yaml",
        "orgs/clinic-3.yaml",
    ]


def test_a_corrupt_database_is_ignored_and_started_again(cached: Repo) -> None:
    database = cached.root / FOLDER / DATABASE
    database.write_bytes(b"this is not a database" * 100)
    truth = outcome(cached.root, "sandbox", cache=False)
    assert outcome(cached.root, "sandbox", cache=True) == truth
    assert len(rows(cached)) == 3  # written again
    assert outcome(cached.root, "sandbox", cache=True) == truth


def _rotated(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """A foreign entry under every key: each the value and payload of the next record."""
    return [(key, *found[(i + 1) % len(found)][1:]) for i, (key, _, _) in enumerate(found)]


DAMAGES: dict[str, Callable[[list[tuple[str, str, str]]], list[tuple[str, str, str]]]] = {
    # The payload no longer has the digest its value carries.
    "payload": lambda found: [
        (k, v, p.replace("Test Facility", "Evil Facility")) for k, v, p in found
    ],
    # A value that is not one the cache writes.
    "value": lambda found: [(k, '{"kind": "organization"}', p) for k, _, p in found],
    "json": lambda found: [(k, "not json", p) for k, _, p in found],
    "foreign": _rotated,
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_or_foreign_entry_is_ignored(
    cached: Repo, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(cached.root / FOLDER / DATABASE) as db:
        damaged = DAMAGES[damage](list(db.execute("SELECT key, value, payload FROM records")))
        db.executemany(
            "UPDATE records SET value = ?, payload = ? WHERE key = ?",
            [(v, p, k) for k, v, p in damaged],
        )
    parsed = reads(monkeypatch)
    truth = outcome(cached.root, "sandbox", cache=False)
    assert outcome(cached.root, "sandbox", cache=True) == truth
    assert "Evil" not in truth
    assert len(parsed) == 2 * 3  # every file read again, by each of the two plans


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


def test_the_cache_folder_ignores_itself_for_git(cached: Repo) -> None:
    ignore = (cached.root / FOLDER / ".gitignore").read_text(encoding="utf-8")
    assert "\n*\n" in ignore


def test_a_change_of_settings_or_environment_is_a_new_key(cached: Repo) -> None:
    development = outcome(cached.root, "development", cache=True)
    assert development == outcome(cached.root, "development", cache=False)
    assert len(rows(cached)) == 6  # the same files, keyed again for development
    cached.settings({"directory": "Elsewhere"})
    assert outcome(cached.root, "sandbox", cache=True) == outcome(
        cached.root, "sandbox", cache=False
    )
    assert len(rows(cached)) == 9
