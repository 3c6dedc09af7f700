"""Check Redox bodies against two independent descriptions of the Redox data models:

- PyPI's `redox` (a dev dependency): pydantic models of every event, extra keys forbidden, so
  it runs in every CI;
- ../shared/redox-schemas (draft-04 JSON Schemas of 2021), where that folder is present.

Two differences are documented and excused, and nothing else: `Action: Create` on an
Organization.New (Redox's own examples send it; the models know no `Action` there), and the
boolean `Roles[].Organization.IsActive` of Redox's provider example (SPEC 1.2; both say string).
With neither description available a check skips with the reason; it never passes silently.
Replies (QueryResponse, ProviderQueryResponse) may also carry the reply envelope Redox adds to
every Meta, `Message` and `Errors` (reference/redox-api-notes.md), which the models leave out.
"""

from __future__ import annotations

import copy
import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SCHEMAS = SHARED / "redox-schemas" / "schemas"
REFERENCE = SHARED / "reference"

EVENTS = {
    ("Organization", "New"): ("organization/new.json", "redox.organization.new:New"),
    ("Organization", "Update"): ("organization/update.json", "redox.organization.update:Update"),
    ("Organization", "Query"): ("organization/query.json", "redox.organization.query:Query"),
    ("Organization", "QueryResponse"): (
        "organization/queryresponse.json",
        "redox.organization.queryresponse:QueryResponse",
    ),
    ("Provider", "New"): ("provider/new.json", "redox.provider.new:New"),
    ("Provider", "Update"): ("provider/update.json", "redox.provider.update:Update"),
    ("Provider", "Activate"): ("provider/activate.json", "redox.provider.activate:Activate"),
    ("Provider", "Deactivate"): (
        "provider/deactivate.json",
        "redox.provider.deactivate:Deactivate",
    ),
    ("Provider", "ProviderQuery"): (
        "provider/providerquery.json",
        "redox.provider.providerquery:ProviderQuery",
    ),
    ("Provider", "ProviderQueryResponse"): (
        "provider/providerqueryresponse.json",
        "redox.provider.providerqueryresponse:ProviderQueryResponse",
    ),
}


def shared_available() -> bool:
    return SCHEMAS.is_dir()


def require_shared() -> None:
    if not shared_available():
        pytest.skip(
            f"../shared/redox-schemas is not beside the repo ({SCHEMAS}); schema checks need it"
        )


@cache
def models_available() -> bool:
    try:
        importlib.import_module("redox.organization")
    except ImportError:
        return False
    return True


def require_a_validator() -> None:
    """Skip, saying why, when neither description of the Redox models is here."""
    if not models_available() and not shared_available():
        pytest.skip(
            "neither the `redox` package (pip install -e '.[dev]') nor ../shared/redox-schemas "
            f"({SCHEMAS}) is available: Redox bodies cannot be checked"
        )


@cache
def _validator(relpath: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / relpath).read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


@cache
def _model(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


REPLIES = frozenset({"QueryResponse", "ProviderQueryResponse"})
REPLY_META = ("Message", "Errors")


def excused(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without the two documented differences, and a reply without Redox's reply
    envelope (a copy; the rest untouched)."""
    body = copy.deepcopy(body)
    meta = body.get("Meta") or {}
    if meta.get("EventType") in REPLIES:
        for key in REPLY_META:
            meta.pop(key, None)
    new = (meta.get("DataModel"), meta.get("EventType")) == ("Organization", "New")
    if new and body.get("Action") == "Create":
        del body["Action"]
    for provider in body.get("Providers") or []:
        for role in (provider or {}).get("Roles") or []:
            organization = (role or {}).get("Organization") or {}
            if isinstance(organization.get("IsActive"), bool):
                del organization["IsActive"]
    return body


def model_errors(body: dict[str, Any], model: str) -> list[str]:
    """How `body` breaks the `redox` package's model of its event (none without the package)."""
    if not models_available():
        return []
    from pydantic import ValidationError

    try:
        _model(model).model_validate(excused(body))
    except ValidationError as exc:
        return [
            f"redox {'/'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
    return []


def shared_schema_errors(body: dict[str, Any], schema_file: str) -> list[str]:
    """How `body` breaks ../shared/redox-schemas (none when the folder is absent)."""
    if not shared_available():
        return []
    return [
        f"schema {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator(schema_file).iter_errors(excused(body))
    ]


def schema_errors(body: dict[str, Any]) -> list[str]:
    """Every way `body` breaks the descriptions of its DataModel and EventType that are here
    (the test skips when there is none)."""
    require_a_validator()
    meta = body.get("Meta") or {}
    key = (meta.get("DataModel"), meta.get("EventType"))
    if key not in EVENTS:
        return [f"no Redox model or schema for DataModel/EventType {key}"]
    schema_file, model = EVENTS[key]
    return model_errors(body, model) + shared_schema_errors(body, schema_file)


def assert_valid_bodies(bodies: list[dict[str, Any]]) -> None:
    """Fail naming each body that does not validate; skip when no description is here (and
    there is a body to check)."""
    if not bodies:
        return
    require_a_validator()
    bad = [(b.get("Meta", {}), errs) for b in bodies if (errs := schema_errors(b))]
    assert not bad, f"{len(bad)} Redox bodies fail the Redox models: {bad[:3]}"
