"""The use cases that look at the directory: drift, import, and the plan against what it holds
(`--refresh`). Lookups spend at most `drift.rate_share` of the rate limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import LoadError, PlanError, ReconcilerError
from reconciler.formats import yamltext
from reconciler.formats.atomic import atomic_write
from reconciler.kinds import kind_of, oid_keys
from reconciler.ledger.adopt import Adoption, adoption, file_name, from_ledger, record
from reconciler.ledger.model import Entry, Ledger
from reconciler.model import Key, split_key
from reconciler.plan import Plan
from reconciler.reconcile.planning import plan
from reconciler.reconcile.workspace import Workspace
from reconciler.records.loader import load_records
from reconciler.redox.api import RedoxApi
from reconciler.views.drift import Drift, Part, compare, refreshed_ledger

if TYPE_CHECKING:
    from reconciler.engine.lookup import Found


def lookup_rate(ws: Workspace) -> float | None:
    """Requests a second that drift, --refresh and import may spend: `drift.rate_share` of
    `api.rate_limit` (None for the in-process sandbox, which has no budget to share)."""
    if ws.environment.in_process:
        return None
    file = ws.settings.file
    return file.api.rate_limit * file.drift.rate_share


async def look_up_ledger_share(
    ws: Workspace, api: RedoxApi, current: Ledger, *, concurrency: int
) -> dict[Key, Found]:
    """The directory's record of every record of `current`, at the lookups' share of the rate."""
    from reconciler.engine.lookup import look_up_ledger

    return await look_up_ledger(
        api, current, env=ws.environment, concurrency=concurrency, rate=lookup_rate(ws)
    )


async def refreshed_plan(ws: Workspace, api: RedoxApi, *, concurrency: int) -> Plan:
    """A plan against what the directory really holds for every ledgered record."""
    current = ws.ledger()
    seen = await look_up_ledger_share(ws, api, current, concurrency=concurrency)
    return plan(ws, refreshed_ledger(current, seen), refreshed=True)


@dataclass(frozen=True)
class DriftReport:
    """Every ledgered record that the directory holds otherwise, of `checked` queried: the
    records of `part` of the `ledgered` ones."""

    environment: str
    drifts: list[Drift]
    checked: int
    part: Part
    ledgered: int


async def drift(
    ws: Workspace,
    api: RedoxApi,
    *,
    concurrency: int,
    rotate: int | None = None,
    day: int | None = None,
) -> DriftReport:
    """Query the directory for today's part of the ledgered records (1/`rotate` of them; by
    default drift.rotate) and compare them with the ledger."""
    current = ws.ledger()
    part = Part.of_day(rotate or ws.settings.file.drift.rotate, day)
    checked = part.of(current)
    seen = await look_up_ledger_share(ws, api, checked, concurrency=concurrency)
    return DriftReport(
        ws.env_name, compare(current, seen), len(checked.records), part, len(current.records)
    )


async def import_(
    ws: Workspace,
    api: RedoxApi,
    *,
    oids: Iterable[str] = (),
    from_files: bool = False,
    write_yaml: bool = False,
    commit: str | None = None,
    concurrency: int,
) -> list[Adoption]:
    """Adopt records the directory already holds into the ledger, never sending a New: the
    organizations named by OID, or every record of the files that the ledger lacks. The
    caller holds the environment's lock."""
    from reconciler.engine.lookup import Wanted, look_up_all

    named = list(oids)
    if bool(named) == from_files:
        raise PlanError("import needs either --oid OID (one or more) or --from-files")
    desired = ws.desired
    current = ws.ledger_store.recover().state
    keys = sorted(set(oid_keys(named) if named else desired) - set(current.records))
    wanted = []
    for key in keys:
        kind, identity = split_key(key)
        want = desired.get(key)
        envelope = want.envelope if want is not None else {"Directory": ws.environment.directory}
        wanted.append(Wanted(kind, identity, envelope, want.payload if want else None))
    found = await look_up_all(
        api, wanted, env=ws.environment, concurrency=concurrency, rate=lookup_rate(ws)
    )
    _refuse_foreign(ws, keys, found)
    adoptions = [
        adoption(key, seen, want=desired.get(key), env=ws.environment)
        for key, seen in zip(keys, found, strict=True)
    ]
    for key in sorted(set(oid_keys(named)) & set(current.records)):
        entry = current.records[key]
        if key in desired:
            adoptions.append(Adoption(key, entry.kind, entry.identity, "ledgered", entry.envelope))
        else:
            entries = {**_ledgered_elsewhere(ws, key), ws.env_name: entry}
            adoptions.append(from_ledger(key, entries, env=ws.env_name, wanted_file=write_yaml))
    missing = [a for a in adoptions if a.status == "absent" and named]
    if missing:
        raise PlanError(
            "not in the directory, so nothing to import: " + ", ".join(a.identity for a in missing)
        )
    if write_yaml:
        adoptions = _write_files(ws, adoptions)
        adoptions = [_check_restored(ws, a, current) for a in adoptions]
    ws.ledger_store.save(record(current, adoptions, commit=commit))
    return adoptions


def _refuse_foreign(ws: Workspace, keys: list[Key], found: list[Found]) -> None:
    """With managing_org set, a record the directory shows managed by another organization is
    never imported (SPEC 2, ownership): PlanError naming each, before anything is written."""
    ours = ws.settings.file.managing_org
    if ours is None:
        return
    foreign: list[str] = []
    for key, seen in zip(keys, found, strict=True):
        kind_name, identity = split_key(key)
        kind = kind_of(kind_name)
        if seen is None or kind.managing_field is None:
            continue
        theirs = kind.managed_by(seen)
        if theirs != ours:
            foreign.append(f"{identity} (managed by {theirs!r})" if theirs else identity)
    if foreign:
        raise PlanError(
            f"managed by another organization in the directory, not by your managing_org "
            f"{ours!r} (reconciler.yaml), so never imported: {', '.join(foreign)}. Nothing was "
            "imported. Check the identities: these are most likely other organizations' records."
        )


def _ledgered_elsewhere(ws: Workspace, key: str) -> dict[str, Entry]:
    """The record's entry in the ledger of each other environment of reconciler.yaml that has
    one (the local sandbox's aside): what import writes per environment comes from these."""
    found: dict[str, Entry] = {}
    for name, env in ws.settings.environments.items():
        if name == ws.env_name or env.in_process:
            continue
        if not (ws.repo / env.ledger).exists():
            continue
        try:
            other = Workspace(repo=ws.repo, env_name=name, cache=ws.cache).ledger()
        except ReconcilerError:
            continue  # that environment's own commands report its broken ledger
        if key in other.records:
            found[name] = other.records[key]
    return found


def _where_it_was(ws: Workspace, a: Adoption, folder: Path, taken: set[str]) -> Path | None:
    """A restored record's file goes back where it was last applied from, when that is free."""
    if a.status != "restored" or not a.source:
        return None
    path = (ws.repo / a.source).resolve()
    if path.parent != folder.resolve() or path.name in taken or path.suffix != ".yaml":
        return None
    taken.add(path.name)
    return folder / path.name


def _check_restored(ws: Workspace, a: Adoption, current: Ledger) -> Adoption:
    """A file written from the ledger must say exactly what was last applied, or say so."""
    if a.status != "restored":
        return a
    written = load_records(ws.repo, ws.environment).desired.get(a.key)
    if written is not None and written.wire_digest == current.records[a.key].digest:
        return a
    note = "the file cannot say exactly what was last applied: the plan shows the difference"
    return replace(a, note=note)


def _write_files(ws: Workspace, adoptions: list[Adoption]) -> list[Adoption]:
    """Write a file for each adopted record that has none. The repository must stay valid with
    them (a file alone can be valid and still name a parent no file holds): when it does not,
    the files are removed and nothing is imported."""
    written: list[Adoption] = []
    paths: list[Path] = []
    taken: dict[Path, set[str]] = {}
    for a in adoptions:
        if a.yaml is None:
            written.append(a)
            continue
        kind = kind_of(a.kind)
        folder = ws.repo / kind.folder
        folder.mkdir(exist_ok=True)
        names = taken.setdefault(folder, {p.name for p in folder.iterdir()})
        path = _where_it_was(ws, a, folder, names)
        if path is None:
            name = kind.display_name(a.payload or {}, a.identity)
            path = folder / file_name(name, names, fallback=kind.name)
        text = yamltext.dump(a.yaml, sort_keys=False, allow_unicode=True, width=100)
        atomic_write(path, text)
        paths.append(path)
        written.append(replace(a, source=path.relative_to(ws.repo).as_posix()))
    if paths:
        try:
            load_records(ws.repo, ws.environment)
        except LoadError as exc:
            for path in paths:
                path.unlink(missing_ok=True)
            raise PlanError(
                "the records would not make valid files, so nothing was imported:\n"
                + "".join(f"  {p}\n" for p in exc.problems)
                + "Where a part_of names a parent that no file holds, import the parent too "
                "(another --oid) or list it under external_parents in reconciler.yaml."
            ) from None
    return written
