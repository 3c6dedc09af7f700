"""The check of Redox bodies itself: it runs without ../shared (PyPI's redox models), excuses
only the two documented differences, and skips, never passes, when it has nothing to check with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redox_schemas
from factories import organization
from redox_schemas import assert_valid_bodies, model_errors, schema_errors

from reconciler.kinds import KINDS
from reconciler.kinds.organization import Organization
from reconciler.model import Action, Environment

ENV = Environment(name="sandbox", ledger="l.json", gateway_oids=frozenset())


def new_organization() -> dict[str, Any]:
    data = organization()
    kind = KINDS["organization"]
    desired = kind.desired(Organization.model_validate(data), data, ENV, file="orgs/x.yaml")
    return kind.request(Action.CREATE, desired.envelope, desired.payload, destination="d")


def provider_body(is_active: Any) -> dict[str, Any]:
    item = {
        "Identifiers": [{"ID": "1245319599", "IDType": "NPI"}],
        "IsActive": True,
        "Roles": [{"Organization": {"Name": "Clinic", "IsActive": is_active}}],
    }
    return KINDS["provider"].request(Action.CREATE, {}, item, destination="d")


def test_the_redox_models_check_bodies_without_the_shared_schemas() -> None:
    body = new_organization()
    assert body["Action"] == "Create"  # as Redox's own examples send it: excused
    assert model_errors(body, "redox.organization.new:New") == []
    body["Organizations"][0]["Nickname"] = "NW"
    body["Organizations"][0]["Active"] = "yes please"
    assert sorted(model_errors(body, "redox.organization.new:New")) == [
        "redox Organizations/0/Active: Input should be a valid boolean, unable to interpret input",
        "redox Organizations/0/Nickname: Extra inputs are not permitted",
    ]


def test_only_the_two_documented_differences_are_excused() -> None:
    assert schema_errors(new_organization()) == []
    assert schema_errors(provider_body(True)) == []
    assert schema_errors(provider_body("true")) == []
    other_action = new_organization() | {"Action": "Update"}
    assert schema_errors(other_action)
    not_a_boolean = provider_body({"value": True})
    assert schema_errors(not_a_boolean)
    unknown = provider_body(True)
    unknown["Providers"][0]["Roles"][0]["Organization"]["Status"] = "open"
    assert schema_errors(unknown)


def test_without_either_description_the_check_skips_and_never_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(redox_schemas, "models_available", lambda: False)
    monkeypatch.setattr(redox_schemas, "SCHEMAS", tmp_path / "absent")
    with pytest.raises(pytest.skip.Exception, match="neither the `redox` package"):
        assert_valid_bodies([new_organization()])
