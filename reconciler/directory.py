"""What the Redox directory really holds, as the reconciler can see it through queries.

A query answer lacks some fields (an organization's `Endpoints` and `DestinationID`) and may
add some (`ManagingOrg`, a `PartOf.Identifier.Type`); comparisons are therefore made on the
fields the reconciler sends that a query can return.
"""

from __future__ import annotations

from typing import Any, Protocol

from reconciler.model import Environment

# Fields a query never returns, per kind: a drift check cannot see them.
HIDDEN = {"organization": ("Endpoints", "DestinationID"), "provider": ()}
# Fields a query answer adds of its own: never ours to compare.
ADDED = {"organization": ("ManagingOrg",), "provider": ()}


class RedoxApi(Protocol):
    """What apply, drift and import need of a Redox client (reconciler.redox.client)."""

    async def send(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def query_organizations(
        self,
        *,
        directory: str,
        destination: str,
        source_id: str | None,
        oid: str | None = None,
        name: str | None = None,
        state: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]: ...

    async def query_providers(
        self, *, destination: str, source_id: str | None, identifier: dict[str, str]
    ) -> list[dict[str, Any]]: ...


async def fetch(
    api: RedoxApi,
    *,
    kind: str,
    identity: str,
    envelope: dict[str, Any],
    env: Environment,
    source_id: str | None,
) -> dict[str, Any] | None:
    """The directory's record of one identity, or None when the directory has none."""
    if kind == "organization":
        destination = env.organization_destination or ""
        found = await api.query_organizations(
            directory=str(envelope.get("Directory") or env.directory),
            destination=destination,
            source_id=source_id,
            oid=identity,
        )
        matches = [r for r in found if identity in _ids(r, "OID")]
    else:
        destination = env.provider_destination or ""
        found = await api.query_providers(
            destination=destination,
            source_id=source_id,
            identifier=_provider_identifier(identity),
        )
        matches = [r for r in found if identity in _ids(r, None)]
    return matches[0] if matches else None


def _provider_identifier(identity: str) -> dict[str, str]:
    # A provider's identity is its NPI when it has one (10 digits), else its first identifier.
    if len(identity) == 10 and identity.isdigit():
        return {"ID": identity, "IDType": "NPI"}
    return {"ID": identity}


def _ids(record: dict[str, Any], id_type: str | None) -> set[str]:
    return {
        str(i.get("ID"))
        for i in record.get("Identifiers") or []
        if isinstance(i, dict) and (id_type is None or i.get("IDType") == id_type)
    }


def visible(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a payload a query can return."""
    hidden = HIDDEN.get(kind, ())
    return {k: v for k, v in payload.items() if k not in hidden}


def observed(kind: str, found: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """The directory's record in the shape of `like` (what we send), so the two compare field
    by field: keys it lacks stay absent; nested keys it adds are dropped. A top-level field
    that someone set there and the files never send is kept (unless empty or the directory's
    own), so drift shows it and a plan shows that the next full-record Update removes it."""
    shaped: dict[str, Any] = _shape(found, visible(kind, like))
    ignored = set(ADDED.get(kind, ())) | set(HIDDEN.get(kind, ()))
    for key, value in found.items():
        if key not in like and key not in ignored and value not in (None, "", [], {}):
            shaped[key] = value
    return shaped


def _shape(found: Any, like: Any) -> Any:
    if isinstance(like, dict) and isinstance(found, dict):
        return {k: _shape(found[k], like[k]) for k in like if k in found}
    if isinstance(like, list) and isinstance(found, list):
        return [_shape(f, like[i]) if i < len(like) else f for i, f in enumerate(found)]
    return found


def as_held(kind: str, found: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """The payload the directory holds, as far as a query shows it: `observed`, with the fields
    a query never returns taken from `like` (what was sent, or what the files say)."""
    seen = observed(kind, found, like)
    hidden = {k: like[k] for k in HIDDEN.get(kind, ()) if k in like}
    return {**seen, **hidden}


def matches(kind: str, payload: dict[str, Any], found: dict[str, Any]) -> bool:
    """Whether the directory's record holds every visible field of `payload` as sent."""
    return observed(kind, found, payload) == visible(kind, payload)
