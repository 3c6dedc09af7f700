"""The use cases: validate, plan, apply, drift, import, each a function of its collaborators
(the workspace, a Redox API, callbacks for the person at the terminal). The CLI parses
arguments, calls one of these, renders what it returns and exits; the decisions are made here.

The data path of apply: cli -> reconcile -> (loader, ledger, plan) -> apply -> client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconciler import files, jsonfile, ledger_store, saved_plan, yamltext
from reconciler.adopt import Adoption, adoption, file_name, from_ledger, record
from reconciler.drift import Drift, Part, compare, refreshed_ledger
from reconciler.errors import (
    LoadError,
    PlanChanged,
    PlanError,
    Problem,
    ReconcilerError,
    StalePlan,
    quoted,
)
from reconciler.graph import Graph, build_graph
from reconciler.history import History
from reconciler.history_git import record_history
from reconciler.kinds import kind_of, oid_keys
from reconciler.ledger import Entry, Ledger
from reconciler.loader import desired_digest, load_records
from reconciler.model import Key, split_key
from reconciler.plan import (
    DIGEST_PATTERN,
    Plan,
    build_plan,
    check_safety,
    summary,
)
from reconciler.redox_api import RedoxApi
from reconciler.saved_plan import dependency_cycle
from reconciler.settings import BUILT_IN, SANDBOX
from reconciler.status import Status, build_status
from reconciler.workspace import Workspace

if TYPE_CHECKING:
    import asyncio

    from reconciler.apply import Applier, Progress, Result
    from reconciler.lookup import Found

# The use cases that talk to Redox import apply and lookup (and so asyncio) when they run:
# validate and plan must start fast.

__all__ = [
    "DIGEST_PATTERN",
    "Adoption",
    "Applied",
    "DriftReport",
    "Graph",
    "History",
    "Plan",
    "Status",
    "Validation",
    "Written",
    "apply",
    "check_expected_digest",
    "drift",
    "graph",
    "history",
    "import_",
    "init_repository",
    "ledger",
    "plan",
    "read_saved_plan",
    "refreshed_plan",
    "save_plan",
    "status",
    "validate",
]

# --- reading only the files and the ledger ---------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """What `validate` found: every problem (warnings too) and the number of valid records."""

    problems: list[Problem]
    records: int

    @property
    def valid(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def validate(ws: Workspace) -> Validation:
    """Check every record file of the workspace."""
    try:
        records = ws.records
    except LoadError as exc:
        return Validation(exc.problems, 0)
    return Validation(records.warnings, len(records.desired))


def plan(ws: Workspace, ledger: Ledger | None = None, *, refreshed: bool = False) -> Plan:
    """A fresh plan of the files against `ledger` (default: the ledger on disk)."""
    file = ws.settings.file
    # The ledger first: reading it holds its file's bytes for a while, which are let go before
    # the files' records take their room (a no-op plan of 100,000 records peaks lower).
    current = ledger if ledger is not None else ws.ledger()
    built = build_plan(
        ws.desired,
        current,
        desired_digest=desired_digest(ws.desired),
        missing=file.missing,
        max_deactivate_fraction=file.safety.max_deactivate_fraction,
        min_records_for_fraction=file.safety.min_records_for_fraction,
        refreshed=refreshed,
    )
    cycle = dependency_cycle({c.key: c.depends_on for c in built.changes})
    if cycle:
        # Only a hand-edited ledger can do this: the files' hierarchy is checked for cycles.
        raise PlanError(
            f"the records {' -> '.join(quoted(k) for k in cycle[:8])} wait for each other in a "
            "cycle, through the "
            f"parents the ledger {ws.environment.ledger} records: restore the ledger from git "
            f"(git checkout -- {ws.environment.ledger})"
        )
    return replace(built, warnings=tuple(str(w) for w in ws.records.warnings))


def graph(ws: Workspace, the_plan: Plan | None = None, *, attached: bool = False) -> Graph:
    """The hierarchy of the files, each record marked with what `the_plan` (default: a fresh
    plan) does to it; `attached` adds the records that hang under another kind's."""
    env = ws.environment
    return build_graph(
        ws.desired,
        the_plan if the_plan is not None else plan(ws),
        gateways=env.gateway_oids,
        external=env.external_parents,
        attached=attached,
    )


def status(ws: Workspace, *, sandbox: bool = False) -> Status:
    """Every record of the files or of any ledger against every environment of the settings
    (`sandbox` too when asked): in sync, or what its plan there would do."""
    names = _promotion_order(ws, sandbox=sandbox)
    spaces = {name: Workspace(ws.repo, name) for name in names}
    return build_status(
        {name: space.desired for name, space in spaces.items()},
        {name: space.ledger() for name, space in spaces.items()},
        missing=ws.settings.file.missing,
    )


def history(ws: Workspace, identity: str) -> History:
    """One record's commits, and the commits of each committed ledger that recorded it."""
    names = _promotion_order(ws, sandbox=False)  # the sandbox's ledger is never committed
    environments = ws.settings.environments
    return record_history(
        ws.repo,
        identity,
        env=ws.environment,
        ledgers={name: environments[name].ledger for name in names},
        load_ledgers=lambda: [Workspace(ws.repo, name).ledger() for name in names],
    )


def _promotion_order(ws: Workspace, *, sandbox: bool) -> list[str]:
    """The environments of the settings: the built-in ones first (development, production),
    then the others by name; the sandbox last, and only when asked."""
    built_in = [name for name in BUILT_IN if name != SANDBOX]
    others = sorted(set(ws.settings.environments) - {*built_in, SANDBOX})
    return [*built_in, *others, *([SANDBOX] if sandbox else [])]


def ledger(ws: Workspace) -> Ledger:
    """The environment's ledger as it is on disk (`show`)."""
    return ws.ledger()


def save_plan(path: Path, text: Iterable[str]) -> None:
    """Write a plan document (`plan --out`) atomically."""
    try:
        ledger_store.atomic_write(path, text)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def read_saved_plan(path: Path, ws: Workspace) -> Plan:
    """A plan saved with `plan --out`, for the workspace's environment."""
    try:
        # The person names the file: it may be anywhere, but it must be a regular file.
        real = Path(os.path.realpath(path))
        raw = files.read_bytes(path, root=real.parent, limit=files.MAX_DOCUMENT_BYTES)
    except files.Unreadable as exc:
        raise PlanError(f"the saved plan {path} {exc}") from None
    except OSError as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc.strerror or exc}") from None
    try:
        document = jsonfile.loads(raw)
    except jsonfile.JsonProblem as exc:
        raise saved_plan.damaged(str(path), exc) from None
    saved = saved_plan.plan_from_document(document, name=str(path))
    _check_saved_digest(path, document, saved)
    if saved.environment != ws.env_name:
        raise PlanError(
            f"{path} is a plan for environment {saved.environment!r}: run "
            f"`reconciler apply --env {saved.environment} {path}`"
        )
    return saved


def _check_saved_digest(path: Path, document: object, saved: Plan) -> None:
    """A saved plan is applied only as it was made: its changes must give its plan digest."""
    written = document.get("plan_digest") if isinstance(document, dict) else None
    if written == saved.digest:
        return
    if written is None:
        why = "carries no plan_digest (it was made by an older reconciler, or edited)"
    else:
        why = (
            f"does not match its plan_digest: its changes give {saved.digest}, the file says "
            f"{quoted(written)}. The file was edited after `reconciler plan --out` wrote it"
        )
    raise PlanError(
        f"the saved plan {path} {why}. A saved plan is applied exactly as it was made and "
        "reviewed: make it again with `reconciler plan --out FILE`."
    )


def check_expected_digest(chosen: Plan, expected: str | None) -> None:
    """PlanChanged when `expected` is given and the plan has another digest."""
    if expected is None or chosen.digest == expected:
        return
    raise PlanChanged(
        f"the plan for {chosen.environment} changed since it was reviewed, so nothing was "
        f"sent. Reviewed: {expected}. Now: {chosen.digest}, {summary(chosen)} "
        f"Review the new plan (reconciler plan --env {chosen.environment}) and apply that."
    )


# --- talking to Redox ----------------------------------------------------------------------


def lookup_rate(ws: Workspace) -> float | None:
    """Requests a second that drift, --refresh and import may spend: `drift.rate_share` of
    `api.rate_limit` (None for the in-process sandbox, which has no budget to share)."""
    if ws.environment.in_process:
        return None
    file = ws.settings.file
    return file.api.rate_limit * file.drift.rate_share


async def _look_up_ledger(
    ws: Workspace, api: RedoxApi, current: Ledger, *, concurrency: int
) -> dict[Key, Found]:
    """The directory's record of every record of `current`, at the lookups' share of the rate."""
    from reconciler.lookup import look_up_ledger

    return await look_up_ledger(
        api, current, env=ws.environment, concurrency=concurrency, rate=lookup_rate(ws)
    )


async def refreshed_plan(ws: Workspace, api: RedoxApi, *, concurrency: int) -> Plan:
    """A plan against what the directory really holds for every ledgered record."""
    current = ws.ledger()
    seen = await _look_up_ledger(ws, api, current, concurrency=concurrency)
    return plan(ws, refreshed_ledger(current, seen), refreshed=True)


Review = Callable[[Plan], bool]


@dataclass(frozen=True)
class Applied:
    """What an apply did. `plan` is what was (or would have been) applied; `result` holds every
    outcome, the settling of calls an earlier run left unresolved included. "interrupted":
    stopped by `stop` (before the plan was carried out, or part way: see `result`)."""

    status: Literal["no_changes", "declined", "applied", "interrupted"]
    plan: Plan | None
    result: Result

    @property
    def ok(self) -> bool:
        return self.status in {"no_changes", "applied"} and self.result.ok


async def apply(
    ws: Workspace,
    api: RedoxApi,
    *,
    saved: Plan | None = None,
    refresh: bool = False,
    targets: Iterable[str] = (),
    force: bool = False,
    review: Review = lambda plan: True,
    progress: Progress = lambda outcome: None,
    commit: str | None = None,
    concurrency: int,
    expect_digest: str | None = None,
    stop: asyncio.Event | None = None,
) -> Applied:
    """Settle what an interrupted apply left, plan (or take the saved plan, if the ledger has
    not moved since), check it (against `expect_digest`, the reviewed plan's digest, when
    given), let `review` see it and say yes, then carry it out. The caller holds the
    environment's lock for the whole of it. Once `stop` is set no new call starts, the calls
    in flight get api.timeout to finish, and the result says what was done."""
    from reconciler.apply import Applier, LedgerWriter, Stopped

    if saved is not None and refresh:
        raise PlanError("a saved plan is applied exactly as it is: drop --refresh")
    if saved is None:
        ws.desired  # noqa: B018 - invalid files fail here, before anything is sent
    writer = LedgerWriter(ws.ledger_path, ws.recovered_ledger(), journal=ws.journal_path)
    applier = Applier(
        api=api,
        writer=writer,
        env=ws.environment,
        commit=commit,
        concurrency=concurrency,
        progress=progress,
        stop=stop,
        grace=ws.settings.file.api.timeout,
    )
    try:
        return await _apply(ws, api, applier, saved, refresh, targets, force, review, expect_digest)
    except Stopped:
        # Only reads were cut short: nothing was sent, and intents stay for the next run.
        await writer.flush()
        applier.result.interrupted = True
        applier.result.ledger = writer.state
        return Applied("interrupted", None, applier.result)


async def _apply(
    ws: Workspace,
    api: RedoxApi,
    applier: Applier,
    saved: Plan | None,
    refresh: bool,
    targets: Iterable[str],
    force: bool,
    review: Review,
    expect_digest: str | None,
) -> Applied:
    from reconciler.apply import Stopped, until_stopped

    writer, stop, concurrency = applier.writer, applier.stop, applier.concurrency
    await applier.resolve_intents()
    current = writer.state
    if saved is not None:
        if (saved.lineage, saved.serial) != (current.lineage, current.serial):
            raise StalePlan(
                f"the saved plan was made against ledger serial {saved.serial} but the "
                f"ledger is now at serial {current.serial}: another apply ran since. Make "
                f"a new plan (`reconciler plan --env {ws.env_name} --out FILE`) and review it."
            )
        chosen = saved
    elif refresh:
        looking = _look_up_ledger(ws, api, current, concurrency=concurrency)
        seen = await until_stopped(stop, looking)
        chosen = plan(ws, refreshed_ledger(current, seen), refreshed=True)
    else:
        chosen = plan(ws, current)
    wanted = list(targets)
    if wanted:
        unknown = [t for t in wanted if not _known(t, ws, current)]
        if unknown:
            raise PlanError(f"--target names no record in the files or the ledger: {unknown}")
        chosen = chosen.only(wanted)
    check_expected_digest(chosen, expect_digest)
    check_safety(chosen, force=force)
    if chosen.empty:
        return Applied("no_changes", chosen, applier.result)
    if applier.stopped:
        raise Stopped
    if not review(chosen):
        return Applied("declined", chosen, applier.result)
    result = await applier.run(chosen)
    return Applied("interrupted" if result.interrupted else "applied", chosen, result)


def _known(target: str, ws: Workspace, current: Ledger) -> bool:
    keys = set(ws.desired) | set(current.records)
    return target in keys or any(key.split(":", 1)[1] == target for key in keys)


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
    seen = await _look_up_ledger(ws, api, checked, concurrency=concurrency)
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
    from reconciler.lookup import Wanted, look_up_all

    named = list(oids)
    if bool(named) == from_files:
        raise PlanError("import needs either --oid OID (one or more) or --from-files")
    desired = ws.desired
    current = ws.recovered_ledger()
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
    ledger_store.save(ws.ledger_path, record(current, adoptions, commit=commit))
    return adoptions


def _ledgered_elsewhere(ws: Workspace, key: str) -> dict[str, Entry]:
    """The record's entry in the ledger of each other environment of reconciler.yaml that has
    one (the local sandbox's aside): what import writes per environment comes from these."""
    found: dict[str, Entry] = {}
    for name, env in ws.settings.environments.items():
        if name == ws.env_name or env.in_process:
            continue
        path = ws.repo / env.ledger
        if not path.exists():
            continue
        try:
            other = ledger_store.load(path, name, shown=env.ledger)
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
        ledger_store.atomic_write(path, text)
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


# --- starting a records repository ---------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """One file `init` wrote (`replaced`: it was there before, and --force replaced it)."""

    path: str
    replaced: bool


def init_repository(target: Path, *, version: str, force: bool = False) -> list[Written]:
    """Write a new records repository's files into `target`: settings, an example record,
    .gitignore, the workflows and the pre-commit configuration. Without `force`, refuses
    before writing anything when one of them exists."""
    from reconciler.scaffold import scaffold

    wanted = scaffold(version)
    present = sorted(path for path in wanted if (target / path).exists())
    if present and not force:
        raise ReconcilerError(
            f"{target} already has {', '.join(present)}: nothing was written. Run "
            "`reconciler init --force` to replace them with the templates."
        )
    written = []
    for path, text in wanted.items():
        destination = target / path
        if destination.exists() and not destination.is_file():
            raise ReconcilerError(f"{destination} is not a file: move it away and run init again")
        replaced = destination.exists()
        ledger_store.atomic_write(destination, text)
        written.append(Written(path, replaced))
    return written
