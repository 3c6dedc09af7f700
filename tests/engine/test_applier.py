"""The applier through apply and the in-process sandbox: one call of the right event per
provider change, and ownership of a Create answered "already exists"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from factories import Repo
from redox_schemas import assert_valid_bodies

from reconciler import reconcile
from reconciler.cli import cli
from reconciler.kinds import kind_of
from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers
from reconciler.model import Action
from reconciler.redox.client import RedoxClient
from reconciler.sandbox.app import Sandbox
from reconciler.sandbox.faults import Faults

PROVIDER = """\
identifiers:
  - {id: "1245319599", id_type: NPI}
active: %(active)s
demographics:
  first_name: Dana
  last_name: Okafor
  sex: %(sex)s
"""


def write(repo: Path, *, active: str = "true", sex: str = "Female") -> None:
    folder = repo / "providers"
    folder.mkdir(exist_ok=True)
    (folder / "dana.yaml").write_text(PROVIDER % {"active": active, "sex": sex}, encoding="utf-8")


def apply(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--yes", "--repo", str(repo)])
    assert result.exit_code == 0, result.output + result.stderr


def provider_calls(repo: Path) -> list[dict[str, Any]]:
    """The Provider writes sent (not the queries that read each one back)."""
    log = repo / ".reconciler" / "sandbox" / "requests.jsonl"
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [
        e
        for e in entries
        if e.get("data_model") == "Provider" and e.get("event_type") != "ProviderQuery"
    ]


def stored(repo: Path) -> dict[str, Any]:
    """The sandbox's record of the provider, replayed from its journal."""
    journal = repo / ".reconciler" / "sandbox" / "directory.jsonl"
    last: dict[str, Any] = {}
    for line in journal.read_text(encoding="utf-8").splitlines():
        change = json.loads(line)
        if change.get("identity") == "1245319599":
            last = change["record"]
    return last


def test_each_action_sends_one_call_of_its_event(tmp_path: Path) -> None:
    steps = [
        ({"active": "true", "sex": "Female"}, "New"),
        ({"active": "true", "sex": "Unknown"}, "Update"),
        ({"active": "false", "sex": "Unknown"}, "Deactivate"),
        ({"active": "true", "sex": "Unknown"}, "Activate"),
    ]
    for done, (values, event) in enumerate(steps, start=1):
        write(tmp_path, **values)
        apply(tmp_path)
        calls = provider_calls(tmp_path)
        assert len(calls) == done, calls
        assert calls[-1]["event_type"] == event
    apply(tmp_path)
    calls = provider_calls(tmp_path)
    assert len(calls) == len(steps), "a no-op apply sends nothing"
    assert_valid_bodies([c["body"] for c in calls])


def test_a_deactivation_that_also_changes_fields_keeps_the_changes(tmp_path: Path) -> None:
    write(tmp_path, active="true", sex="Female")
    apply(tmp_path)
    write(tmp_path, active="false", sex="Unknown")
    apply(tmp_path)
    events = [c["event_type"] for c in provider_calls(tmp_path)]
    assert events == ["New", "Update", "Deactivate"]
    record = stored(tmp_path)
    assert record["Demographics"]["Sex"] == "Unknown"
    assert record["IsActive"] is False


# -- ownership through the applier -----------------------------------------------------------


@pytest.mark.parametrize("intent_left", [True, False], ids=["intent-left", "no-intent"])
def test_a_create_that_landed_unseen_is_this_tools_own_only_when_its_intent_was_left(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]], intent_left: bool
) -> None:
    """A run killed after its Create landed leaves the intent; the directory does not show the
    record yet, so the intent is dropped, the Create is sent again and answered "already
    exists": this tool's own, so overwritten. Without that intent, the same answer means the
    record was created elsewhere: refused."""
    made = repo({"clinic": org(1)})
    ws = made.workspace("sandbox")
    change = reconcile.plan(ws).changes[0]
    if intent_left:
        intent = ledgers.Intent(
            kind=change.kind,
            identity=change.identity,
            action=change.action.value,
            envelope=change.envelope,
            payload=change.after,
            source=change.source,
            started_at=ledgers.now(),
        )
        ledger_file.save(ws.ledger_store.path, ws.ledger().with_intent(change.key, intent))
    sandbox = Sandbox(data_dir=ws.sandbox_dir, faults=Faults(visibility_delay=600))
    destination = ws.environment.destination(change.kind) or ""

    async def main() -> reconcile.Applied:
        transport = httpx.ASGITransport(app=sandbox)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            client = RedoxClient(
                base_url="http://sandbox", http=http, credentials=None, rate_limit=1000
            )
            body = kind_of(change.kind).request(
                Action.CREATE, change.envelope, change.after, destination=destination
            )
            await client.send(body)  # landed, and not visible for ten minutes
            with ws.ledger_store.lock("apply"):
                return await reconcile.apply(ws, client, concurrency=2, verify=False)

    applied = asyncio.run(main())

    outcomes = [(o.status, o.key) for o in applied.result.outcomes]
    events = [r["event_type"] for r in sandbox.requests][1:]
    if intent_left:
        assert outcomes == [("dropped", change.key), ("overwritten", change.key)]
        assert events == ["Query", "New", "Query", "Update"]
        assert change.key in ws.ledger().records
    else:
        assert outcomes == [("refused", change.key)]
        assert events == ["New", "Query"]
        assert change.key not in ws.ledger().records
    assert ws.ledger().intents == {}
