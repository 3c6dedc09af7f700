"""Validate request bodies against ../shared/redox-schemas (skipped, with a reason, when absent)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SCHEMAS = SHARED / "redox-schemas" / "schemas"
REFERENCE = SHARED / "reference"

SCHEMA_FILES = {
    ("Organization", "New"): "organization/new.json",
    ("Organization", "Update"): "organization/update.json",
    ("Organization", "Query"): "organization/query.json",
    ("Organization", "QueryResponse"): "organization/queryresponse.json",
    ("Provider", "New"): "provider/new.json",
    ("Provider", "Update"): "provider/update.json",
    ("Provider", "Activate"): "provider/activate.json",
    ("Provider", "Deactivate"): "provider/deactivate.json",
    ("Provider", "ProviderQuery"): "provider/providerquery.json",
    ("Provider", "ProviderQueryResponse"): "provider/providerqueryresponse.json",
}


def shared_available() -> bool:
    return SCHEMAS.is_dir()


def require_shared() -> None:
    if not shared_available():
        pytest.skip(
            f"../shared/redox-schemas is not beside the repo ({SCHEMAS}); schema checks need it"
        )


@cache
def _validator(relpath: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / relpath).read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def schema_errors(body: dict[str, Any]) -> list[str]:
    """Every way `body` breaks the Redox schema of its DataModel and EventType (none when
    ../shared is absent: a test that needs the check itself calls require_shared)."""
    if not shared_available():
        return []
    meta = body.get("Meta") or {}
    key = (meta.get("DataModel"), meta.get("EventType"))
    if key not in SCHEMA_FILES:
        return [f"no Redox schema for DataModel/EventType {key}"]
    validator = _validator(SCHEMA_FILES[key])
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def assert_valid_bodies(bodies: list[dict[str, Any]]) -> None:
    """Fail naming each body that does not validate (a no-op when ../shared is absent)."""
    if not shared_available() or not bodies:
        return
    bad = [(b.get("Meta", {}), errs) for b in bodies if (errs := schema_errors(b))]
    assert not bad, f"{len(bad)} request bodies fail the Redox schemas: {bad[:3]}"
