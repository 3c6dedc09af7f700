"""Redox's Data Model API as both sides speak it: the client (reconciler.redox) reads it, the
sandbox (reconciler.sandbox) answers in it, and the core calls it through `RedoxApi`.

One home for the facts both sides must agree on: paths, the Meta block, the destination IDs
Redox publishes, the gateway OIDs, and the error texts with the typed error each one means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.errors import (
    AlreadyExists,
    AuthError,
    NotFound,
    Refused,
    WrongDestination,
)

TOKEN_PATH = "/v2/auth/token"
ENDPOINT_PATH = "/endpoint"

# Meta.Destinations[].ID of organization requests, as Redox publishes them.
DEVELOPMENT_ORGANIZATION_DESTINATION = "a07afe3b-d247-4415-827f-6837707e1b8b"
PRODUCTION_ORGANIZATION_DESTINATION = "5d0fd248-6c52-4ad9-b907-ae10bf2dcc39"
# Provider events go to a destination Redox assigns to each account; the built-in sandbox
# accepts this one.
SANDBOX_PROVIDER_DESTINATION = "3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13"

# The Redox gateway: the parent of a vendor's top record (.458.3 for organizations that answer
# Carequality queries on their own).
GATEWAY_OID = "2.16.840.1.113883.3.6147.458.2"
SELF_RESPONDING_GATEWAY_OID = "2.16.840.1.113883.3.6147.458.3"

# Meta.Errors[].Text as Redox writes them.
NO_SUBSCRIPTION = (
    "No subscriptions. Meta.Destinations needs to contain a destination from existing subscription."
)
PARSE_FAILED = "Failed to parse request body as XML resource."
DUPLICATE_BUSINESS = "Your Organization Source contains a duplicate business!"
PUBLIC_KEY_NOT_FOUND = "Public key not found, check client_id, kid and Redox dashboard settings"
UNAUTHORIZED = "Unauthorized: the access token is missing, invalid or expired; get a new one."
MANAGING_ORG = "Redox Health System"


def already_exists(identity: str) -> str:
    """The text of a New for an identity the directory holds."""
    return f"{identity} already exists."


def not_valid(identity: str) -> str:
    """The text of an Update for an identity the directory lacks."""
    return f"id: {identity} is not valid."


_ALREADY_EXISTS = re.compile(r"^\S+ already exists\.$")
_NOT_VALID = re.compile(r"^id: \S+ is not valid\.$")


def refusal_class(status: int, texts: list[str]) -> type[Refused] | type[AuthError]:
    """The typed error that a refusal with this status and these Meta.Errors texts means."""
    if status == 401:
        return AuthError
    if any(_ALREADY_EXISTS.match(text) for text in texts):
        return AlreadyExists
    if any(_NOT_VALID.match(text) for text in texts):
        return NotFound
    if NO_SUBSCRIPTION in texts:
        return WrongDestination
    return Refused


def meta(data_model: str, event_type: str, destination: str) -> dict[str, Any]:
    """The Meta block a sender sets (the client adds Meta.Source when its API key needs one)."""
    return {
        "DataModel": data_model,
        "EventType": event_type,
        "Destinations": [{"ID": destination}],
    }


def with_source(body: dict[str, Any], source_id: str | None) -> dict[str, Any]:
    """`body` with Meta.Source naming the sender (needed when an environment has several API
    keys); `body` itself when there is no source ID."""
    block = body.get("Meta")
    if not source_id or not isinstance(block, dict):
        return body
    return {**body, "Meta": {**block, "Source": {"ID": source_id}}}


def meta_errors(payload: Any) -> list[str]:
    """The Meta.Errors[].Text of a reply body (empty when there are none)."""
    block = payload.get("Meta") if isinstance(payload, dict) else None
    errors = block.get("Errors") if isinstance(block, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("Text", e)) if isinstance(e, dict) else str(e) for e in errors]


@dataclass(frozen=True)
class RedoxLog:
    """Meta.Logs[0] of an answer: the ID Redox support asks for, and the attempt's ID."""

    id: str
    attempt_id: str | None = None


def redox_log(payload: Any) -> RedoxLog | None:
    """Meta.Logs[0] of a reply body (None when it has none)."""
    block = payload.get("Meta") if isinstance(payload, dict) else None
    logs = block.get("Logs") if isinstance(block, dict) else None
    first = logs[0] if isinstance(logs, list) and logs else None
    if not isinstance(first, dict) or not isinstance(first.get("ID"), str) or not first["ID"]:
        return None
    attempt = first.get("AttemptID")
    return RedoxLog(first["ID"], attempt if isinstance(attempt, str) and attempt else None)


class RedoxApi(Protocol):
    """What apply, drift and import need of Redox: one request, one reply or a RedoxError.
    reconciler.redox.client.RedoxClient is the real one."""

    async def send(self, body: dict[str, Any]) -> dict[str, Any]: ...


def organization_query(
    *,
    directory: str,
    destination: str,
    oid: str | None = None,
    name: str | None = None,
    state: str | None = None,
    active: bool | None = None,
) -> dict[str, Any]:
    """An Organization.Query body (without Index and Limit, which `query_pages` sets);
    `active` asks for active or inactive records only."""
    body: dict[str, Any] = {
        "Meta": meta("Organization", "Query", destination),
        "Directory": directory,
    }
    if oid is not None:
        body["Identifier"] = {"ID": oid, "IDType": "OID"}
    if name is not None:
        body["NameSearch"] = {"SearchType": "Contains", "Value": name}
    if state is not None:
        body["State"] = state
    if active is not None:
        body["Active"] = active
    return body


def provider_query(*, destination: str, identifier: dict[str, str]) -> dict[str, Any]:
    """A Provider.ProviderQuery body for the providers that carry `identifier`."""
    return {
        "Meta": meta("Provider", "ProviderQuery", destination),
        "Provider": {"Identifiers": [dict(identifier)]},
    }


async def query_pages(
    api: RedoxApi, body: dict[str, Any], *, records: str, page_size: int = 100
) -> list[dict[str, Any]]:
    """Every record a paged query returns (`Index`/`Limit` as strings, as Redox wants them),
    fetched page by page until a short page or `Paging.Count`."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    found: list[dict[str, Any]] = []
    index = 0
    while True:
        reply = await api.send({**body, "Index": str(index), "Limit": str(page_size)})
        page = reply.get(records) or []
        found.extend(page)
        index += len(page)
        paging = reply.get("Paging") or {}
        count = paging.get("Count") if isinstance(paging, dict) else None
        if len(page) < page_size or (isinstance(count, int | float) and index >= count):
            return found
