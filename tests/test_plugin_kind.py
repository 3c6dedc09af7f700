"""A kind is a plug-in: a third, toy kind defined only here is validated, planned, applied,
checked for drift and imported through the same pipeline, against a tiny fake directory, with
no module of the package edited for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import pytest
from click.testing import Result
from factories import Repo

from reconciler import reconcile
from reconciler.errors import AlreadyExists, NotFound, Problem
from reconciler.kinds import registered
from reconciler.model import (
    Action,
    Desired,
    Environment,
    Key,
    Kind,
    Loaded,
    Wire,
    from_wire,
    to_wire,
)
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import RedoxApi, meta

DESTINATION = "widget-destination-1"


class Widget(Wire):
    code: str
    label: str
    active: bool = True


class WidgetKind(Kind):
    """Widgets: files in widgets/, sent as Widget.New / Widget.Update."""

    name: ClassVar[str] = "widget"
    folder: ClassVar[str] = "widgets"
    model: ClassVar[type[Wire]] = Widget
    data_model: ClassVar[str] = "Widget"
    active_field: ClassVar[str] = "Active"
    destination_setting: ClassVar[str] = "widget_destination"
    built_in_destinations: ClassVar[Mapping[str, str]] = {"sandbox": DESTINATION}
    hidden_fields: ClassVar[tuple[str, ...]] = ()
    cross_keys: ClassVar[tuple[str, ...]] = ("code",)

    def identity(self, data: dict[str, Any]) -> str | None:
        code = data.get("code")
        return code if isinstance(code, str) else None

    def wire_identity(self, payload: Any) -> str | None:
        return payload.get("Code") if isinstance(payload, dict) else None

    def desired(
        self, record: Wire, data: dict[str, Any], env: Environment, *, file: str
    ) -> Desired:
        assert isinstance(record, Widget)
        return Desired.of(
            kind=self.name,
            identity=record.code,
            envelope={},
            payload=self.with_active(to_wire(data), record.active),
            active=record.active,
            file=file,
            depends_on=(),
        )

    def check_all(self, loaded: list[Loaded], env: Environment, known: set[Key]) -> list[Problem]:
        seen: dict[str, str] = {}
        problems = []
        for item in loaded:
            code = item.text("code")
            if code is not None and seen.setdefault(code, item.file) != item.file:
                problems.append(Problem(item.file, item.line("code"), f"code {code} is taken"))
        return problems

    def parent_keys(self, payload: dict[str, Any]) -> tuple[Key, ...]:
        return ()

    def to_yaml(self, payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in from_wire(payload).items()}

    def request(
        self, action: Action, envelope: dict[str, Any], payload: dict[str, Any], *, destination: str
    ) -> dict[str, Any]:
        event = "New" if action == Action.CREATE else "Update"
        return {"Meta": meta(self.data_model, event, destination), "Widgets": [payload]}

    async def look_up(
        self,
        api: RedoxApi,
        identity: str,
        *,
        envelope: dict[str, Any],
        like: dict[str, Any] | None,
        env: Environment,
    ) -> dict[str, Any] | None:
        query = {
            "Meta": meta(self.data_model, "Query", env.destination(self.name) or ""),
            "Code": identity,
        }
        found: dict[str, Any] | None = (await api.send(query)).get("Widget")
        return found


class FakeWidgets:
    """A tiny directory of widgets, speaking the toy kind's requests."""

    def __init__(self) -> None:
        self.widgets: dict[str, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(body)
        event = body["Meta"]["EventType"]
        if event == "Query":
            return {"Widget": self.widgets.get(body["Code"])}
        (widget,) = body["Widgets"]
        code = widget["Code"]
        if event == "New" and code in self.widgets:
            raise AlreadyExists(f"{code} already exists.", status=403)
        if event == "Update" and code not in self.widgets:
            raise NotFound(f"id: {code} is not valid.", status=403)
        self.widgets[code] = dict(widget)
        return {"Meta": {}}

    def events(self) -> list[tuple[str, str, str]]:
        """(event, code, destination) of every write sent."""
        return [
            (b["Meta"]["EventType"], b["Widgets"][0]["Code"], b["Meta"]["Destinations"][0]["ID"])
            for b in self.sent
            if "Widgets" in b
        ]


@pytest.fixture
def widgets() -> Iterator[WidgetKind]:
    with registered(WidgetKind()) as kind:
        yield kind


def apply(ws: Workspace, api: FakeWidgets) -> reconcile.Applied:
    return asyncio.run(reconcile.apply(ws, api, concurrency=2))


def test_a_toy_kind_plans_applies_and_replans_empty(
    widgets: WidgetKind, repo: Callable[..., Repo]
) -> None:
    made = repo()
    made.write("widgets/a.yaml", {"code": "W-1", "label": "First"})
    made.write("widgets/b.yaml", {"code": "W-2", "label": "Second"})
    ws = made.workspace()
    plan = reconcile.plan(ws)
    assert [(c.action, c.kind, c.identity) for c in plan.changes] == [
        (Action.CREATE, "widget", "W-1"),
        (Action.CREATE, "widget", "W-2"),
    ]
    fake = FakeWidgets()
    applied = apply(ws, fake)
    assert applied.ok
    assert fake.events() == [("New", "W-1", DESTINATION), ("New", "W-2", DESTINATION)]
    assert fake.widgets["W-1"] == {"Code": "W-1", "Label": "First", "Active": True}
    assert reconcile.plan(made.workspace()).empty

    made.write("widgets/a.yaml", {"code": "W-1", "label": "Renamed"})
    made.write("widgets/b.yaml", {"code": "W-2", "label": "Second", "active": False})
    plan = reconcile.plan(made.workspace())
    assert [(c.action, c.identity) for c in plan.changes] == [
        (Action.UPDATE, "W-1"),
        (Action.DEACTIVATE, "W-2"),
    ]
    assert apply(made.workspace(), fake).ok
    assert fake.widgets["W-1"]["Label"] == "Renamed"
    assert fake.widgets["W-2"]["Active"] is False
    assert reconcile.plan(made.workspace()).empty


def test_a_toy_kind_takes_its_destination_from_its_own_setting(
    widgets: WidgetKind, repo: Callable[..., Repo]
) -> None:
    made = repo(settings={"environments": {"sandbox": {"widget_destination": "w-9"}}})
    made.write("widgets/a.yaml", {"code": "W-1", "label": "First"})
    fake = FakeWidgets()
    assert apply(made.workspace(), fake).ok
    assert fake.events() == [("New", "W-1", "w-9")]


def test_a_toy_kind_is_validated_with_lines_and_cross_checks(
    widgets: WidgetKind, repo: Callable[..., Repo], run_cli: Callable[..., Result]
) -> None:
    made = repo()
    made.write("widgets/a.yaml", "code: W-1\nlabel: First\n")
    made.write("widgets/b.yaml", "code: W-1\nlable: Typo\n")
    result = run_cli("validate", repo=made)
    assert result.exit_code == 1
    assert "widgets/b.yaml:1: error: code W-1 is taken" in result.output
    assert "widgets/b.yaml:2: error: unknown key 'lable': did you mean 'label'?" in result.output


def test_a_toy_kind_drifts_and_imports(widgets: WidgetKind, repo: Callable[..., Repo]) -> None:
    made = repo()
    made.write("widgets/a.yaml", {"code": "W-1", "label": "First"})
    fake = FakeWidgets()
    assert apply(made.workspace(), fake).ok
    fake.widgets["W-1"]["Label"] = "Changed behind our back"
    report = asyncio.run(reconcile.drift(made.workspace(), fake, concurrency=2))
    assert [(d.identity, d.finding.value, [f.path for f in d.fields]) for d in report.drifts] == [
        ("W-1", "different", ["Label"])
    ]

    # A widget the directory holds and no ledger knows: import adopts it as the files say.
    fake.widgets["W-5"] = {"Code": "W-5", "Label": "Fifth", "Active": True}
    made.write("widgets/e.yaml", {"code": "W-5", "label": "Fifth"})
    adoptions = asyncio.run(
        reconcile.import_(made.workspace(), fake, from_files=True, concurrency=2)
    )
    assert [(a.identity, a.status) for a in adoptions] == [("W-5", "adopted")]
    assert not any(e[0] == "New" and e[1] == "W-5" for e in fake.events())


def test_without_the_plug_in_its_files_are_not_read(repo: Callable[..., Repo]) -> None:
    made = repo()
    made.write("widgets/a.yaml", {"code": "W-1", "label": "First"})
    assert reconcile.plan(made.workspace()).empty
