"""The views of the records: the hierarchy, the promotion status, one record's history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.git.history import record_history
from reconciler.plan import Plan
from reconciler.reconcile.planning import plan
from reconciler.reconcile.workspace import Workspace
from reconciler.records.settings import BUILT_IN, SANDBOX
from reconciler.views.graph import Graph, build_graph
from reconciler.views.history import History
from reconciler.views.status import Status, build_status

if TYPE_CHECKING:
    pass


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
    return status_of(ws, environments(ws, sandbox=sandbox))


def environments(ws: Workspace, *, sandbox: bool) -> dict[str, Workspace]:
    """A workspace for each environment that `status` shows, in its order."""
    return {name: Workspace(ws.repo, name) for name in _promotion_order(ws, sandbox=sandbox)}


def status_of(ws: Workspace, spaces: dict[str, Workspace]) -> Status:
    """`status` over these environments' workspaces (whose records stay loaded in them)."""
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
