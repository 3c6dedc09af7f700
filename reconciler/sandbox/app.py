"""A Redox-compatible sandbox: an ASGI app that behaves like Redox and the Carequality directory.

Routes:
- ``POST /v2/auth/token``: OAuth 2.0 client credentials with a signed JWT assertion
  (RS384/ES384), verified against ``trusted_keys``;
- ``POST /endpoint``: Organization New/Update/Query, Provider New/Update/Deactivate/Activate/
  ProviderQuery, with Redox's status codes and ``Meta.Errors`` texts; nothing is ever deleted.

Test hooks (not part of Redox; they skip authentication, and the server only listens on
127.0.0.1): ``GET /_sandbox/organizations``, ``GET /_sandbox/providers``,
``GET /_sandbox/creations``, ``GET /_sandbox/requests`` return the directory, the creation
counts and the request log as JSON; ``PUT /_sandbox/organizations`` (body: one
Organizations[] record, which may carry the ``ManagingOrg`` queries show of it) stores it as if
another client had changed the directory.

Every /endpoint answer carries ``Meta.Logs[{ID, AttemptID}]``, as Redox's do; the request log
keeps each answer's log ID.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.formats import redact
from reconciler.kinds import KINDS
from reconciler.redox.api import (
    DUPLICATE_BUSINESS,
    ENDPOINT_PATH,
    NO_SUBSCRIPTION,
    TOKEN_PATH,
    UNAUTHORIZED,
    meta_errors,
    redox_log,
)
from reconciler.sandbox.faults import Faults, WriteFaults
from reconciler.sandbox.preload import Preload
from reconciler.sandbox.rules import Refusal, organization_oid, provider_identity
from reconciler.sandbox.store import ORG_PUT, Store
from reconciler.sandbox.tokens import TokenIssuer

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 10 * 1024 * 1024
WRITES = frozenset(
    {
        ("Organization", "New"),
        ("Organization", "Update"),
        ("Provider", "New"),
        ("Provider", "Update"),
        ("Provider", "Deactivate"),
        ("Provider", "Activate"),
    }
)


@dataclass
class _Reply:
    status: int
    payload: Any
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Sandbox:
    """The ASGI app; also exposes the directory and the request log to tests and the CLI."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        faults: Faults = Faults(),  # noqa: B008 (frozen: one shared default is safe)
        require_auth: bool = False,
        trusted_keys: Mapping[tuple[str, str], str] | None = None,
        destinations: Mapping[str, frozenset[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        keep_requests: bool = True,
        preload: Preload | None = None,
    ) -> None:
        """`preload`: records the directory holds before the first apply, as if created
        elsewhere (stored unless the directory already holds them)."""
        # A long-lived server (`sandbox serve`) keeps its request log on disk only: in memory
        # it would grow without bound. In-process users read `requests`.
        self.requests: list[dict[str, Any]] = []
        self._keep_requests = keep_requests or data_dir is None
        self._store = Store(data_dir, clock=clock)
        if preload is not None:
            self._store.preload(preload)
        self._require_auth = require_auth
        self._tokens = TokenIssuer(trusted_keys or {}, clock=clock)
        # Meta.DataModel -> the destinations of this account's subscriptions: by default the
        # ones Redox publishes for each kind of record.
        self._destinations = dict(destinations or _published_destinations())
        self._clock = clock
        self._window: collections.deque[float] = collections.deque()
        self._ids = itertools.count(1)
        self.set_faults(faults)

    # -- state for tests and the CLI --------------------------------------------------------

    def organizations(self) -> dict[str, dict[str, Any]]:
        """OID -> stored record (wire form), a copy."""
        return copy.deepcopy(self._store.organizations)

    def providers(self) -> dict[str, dict[str, Any]]:
        """Identity -> stored provider record (wire form), a copy."""
        return copy.deepcopy(self._store.providers)

    def creations(self) -> dict[str, int]:
        """Identity -> how many times a New succeeded for it."""
        return dict(self._store.creations)

    def put_organization(self, record: dict[str, Any]) -> None:
        """Store `record` as if another client had changed the directory."""
        oid = organization_oid(record)
        if oid is None:
            raise ValueError("the record has no Identifiers[] entry with IDType OID")
        self._store.commit(ORG_PUT, oid, record)

    def set_faults(self, faults: Faults) -> None:
        """Inject these faults from now on (reseeding the fault randomness)."""
        self._faults = faults
        self._random = random.Random(faults.seed)
        self._store.faults = WriteFaults(
            visibility_delay=faults.visibility_delay,
            unstored=faults.never_visible,
            altered=faults.store_differently,
        )

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI 3 connection scope (http or lifespan)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > MAX_BODY:
                await self._respond(send, _Reply(413, {"error": "payload too large"}))
                return
        reply = await self._route(scope, bytes(body))
        await self._respond(send, reply)

    @staticmethod
    async def _respond(send: Send, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            *reply.headers,
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _route(self, scope: Scope, body: bytes) -> _Reply:
        path, method = scope["path"], scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        routes: dict[str, tuple[str, ...]] = {
            TOKEN_PATH: ("POST",),
            ENDPOINT_PATH: ("POST",),
            "/_sandbox/organizations": ("GET", "PUT"),
            "/_sandbox/providers": ("GET",),
            "/_sandbox/creations": ("GET",),
            "/_sandbox/requests": ("GET",),
        }
        if path not in routes:
            return _Reply(404, {"error": f"Not found: {path}"})
        if method not in routes[path]:
            allow = ", ".join(routes[path]).encode()
            return _Reply(405, {"error": f"{method} not allowed on {path}"}, [(b"allow", allow)])
        if path == TOKEN_PATH:
            return self._token_route(headers, body)
        if path == ENDPOINT_PATH:
            return await self._endpoint_route(headers, body)
        return self._admin_route(path, method, body)

    def _admin_route(self, path: str, method: str, body: bytes) -> _Reply:
        if method == "PUT":
            try:
                record = json.loads(body)
                self.put_organization(record)
            except (ValueError, TypeError) as exc:
                return _Reply(400, {"error": str(exc)})
            return _Reply(200, {"oid": organization_oid(record)})
        views: dict[str, Callable[[], Any]] = {
            "/_sandbox/organizations": self.organizations,
            "/_sandbox/providers": self.providers,
            "/_sandbox/creations": self.creations,
            "/_sandbox/requests": lambda: (
                self.requests if self._keep_requests else self._store.read_requests()
            ),
        }
        return _Reply(200, views[path]())

    def _log(self, entry: dict[str, Any]) -> None:
        if self._keep_requests:
            self.requests.append(entry)
        self._store.log_request(entry)
        logger.debug(
            "sandbox %s %s.%s -> %s %s",
            entry["path"],
            entry["data_model"],
            entry["event_type"],
            entry["status"],
            entry["outcome"],
        )

    # -- /v2/auth/token ---------------------------------------------------------------------

    def _token_route(self, headers: dict[str, str], body: bytes) -> _Reply:
        entry: dict[str, Any] = {
            "time": time.time(),
            "path": TOKEN_PATH,
            "data_model": None,
            "event_type": None,
            "oid": None,
            "identity": None,
            "body": None,  # the form carries the client assertion: never logged
        }
        try:
            client_id, lifetime, token = self._tokens.issue(
                headers.get("content-type", ""), body, lifetime=self._faults.token_lifetime
            )
        except Refusal as refusal:
            code = "invalid_client" if refusal.status == 401 else "invalid_request"
            entry |= {"status": refusal.status, "outcome": "refused", "error": refusal.text}
            self._log(entry)
            text = refusal.text + self._echo(headers, body)
            return _Reply(refusal.status, {"error": code, "error_description": text})
        entry |= {"status": 200, "outcome": "ok", "error": None, "client_id": client_id}
        self._log(entry)
        return _Reply(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    # -- /endpoint --------------------------------------------------------------------------

    def _meta(
        self,
        request_meta: dict[str, Any],
        *,
        event_type: str | None = None,
        detail: str | None = None,
        errors: list[str] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "DataModel": request_meta.get("DataModel"),
            "EventType": event_type or request_meta.get("EventType"),
        }
        # An unparseable request has no model or event to echo: leave them out, not null.
        meta = {k: v for k, v in meta.items() if isinstance(v, str)}
        meta["Message"] = {"ID": next(self._ids)}
        meta["Logs"] = [{"ID": str(uuid.uuid4()), "AttemptID": str(uuid.uuid4())}]
        for key in ("Source", "Destinations"):
            if key in request_meta:
                meta[key] = request_meta[key]
        if detail is not None:
            meta["Extensions"] = {"ResponseDetail": {"string": detail}}
        if errors:
            meta["Errors"] = [
                {"ID": next(self._ids), "Text": text, "Type": "request", "Module": "Request"}
                for text in errors
            ]
        return meta

    def _echo(self, headers: Mapping[str, str], body: bytes) -> str:
        """The request, as an echoing server repeats it in an error (when the fault is set)."""
        if not self._faults.echo_errors:
            return ""
        text = body.decode("utf-8", errors="replace")
        return f" (request headers: {json.dumps(dict(headers))}; body: {text})"

    def _rate_limited(self) -> bool:
        limit = self._faults.rate_limit
        if limit is None:
            return False
        now = self._clock()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) + 1 > limit:
            return True
        # Only accepted requests count: a client honouring Retry-After then gets through.
        self._window.append(now)
        return False

    async def _endpoint_route(self, headers: dict[str, str], raw: bytes) -> _Reply:
        entry: dict[str, Any] = {
            "time": time.time(),
            "path": ENDPOINT_PATH,
            "data_model": None,
            "event_type": None,
            "oid": None,
            "identity": None,
            "body": None,
        }
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        meta = body.get("Meta") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        entry |= {
            "body": body,
            "data_model": meta.get("DataModel"),
            "event_type": meta.get("EventType"),
            "oid": _logged_oid(body) if meta.get("DataModel") == "Organization" else None,
            "identity": _logged_identity(body) if meta.get("DataModel") == "Provider" else None,
        }
        reply, outcome = self._endpoint_reply(headers, body, meta)
        errors = meta_errors(reply.payload)
        if reply.status >= 400 and self._faults.echo_errors:
            # The reply repeats the request as sent; the log keeps it with credentials masked.
            for error in reply.payload.get("Meta", {}).get("Errors", []):
                error["Text"] += self._echo(headers, raw)
            errors = [text + self._echo(redact.masked_headers(headers), raw) for text in errors]
        if self._faults.latency > 0:
            await asyncio.sleep(self._faults.latency)
        entry |= {"status": reply.status, "outcome": outcome, "error": "; ".join(errors) or None}
        answered = redox_log(reply.payload)
        entry["log_id"] = answered.id if answered is not None else None
        self._log(entry)
        return reply

    def _endpoint_reply(
        self, headers: dict[str, str], body: Any, meta: dict[str, Any]
    ) -> tuple[_Reply, str]:
        if self._require_auth and not self._tokens.valid(headers.get("authorization", "")):
            return _Reply(401, {"Meta": self._meta(meta, errors=[UNAUTHORIZED])}), "unauthorized"
        if self._rate_limited():
            retry_after = _format_seconds(self._faults.retry_after).encode()
            limit = _format_seconds(self._faults.rate_limit or 0).encode()
            text = f"Rate limit exceeded: at most {limit.decode()} requests per second."
            return _Reply(
                429,
                {"Meta": self._meta(meta, errors=[text])},
                [(b"retry-after", retry_after), (b"x-ratelimit-limit", limit)],
            ), "rate_limited"
        if self._faults.error_rate > 0 and self._random.random() < self._faults.error_rate:
            status = self._random.choice((502, 503))
            text = "Request dropped during internal updates; retry later."
            return _Reply(status, {"Meta": self._meta(meta, errors=[text])}), "injected_error"
        if self._faults.refuse and isinstance(body, dict) and _refused(body, self._faults.refuse):
            return _Reply(500, {"Meta": self._meta(meta, errors=[DUPLICATE_BUSINESS])}), "refused"
        try:
            if not isinstance(body, dict):
                raise Refusal(400, "The request body is not a JSON object.")
            payload = self._dispatch(body, meta)
        except Refusal as refusal:
            return _Reply(
                refusal.status, {"Meta": self._meta(meta, errors=[refusal.text])}
            ), "refused"
        event = (meta.get("DataModel"), meta.get("EventType"))
        if (
            event in WRITES
            and self._faults.lose_reply_rate > 0
            and self._random.random() < self._faults.lose_reply_rate
        ):
            # The change is committed; only its acknowledgement is lost on the way back.
            lost = {"Meta": self._meta(meta, errors=["Gateway timeout"])}
            return _Reply(504, lost), "reply_lost"
        return _Reply(200, payload), "ok"

    def _dispatch(self, body: dict[str, Any], meta: dict[str, Any]) -> Any:
        data_model, event_type = meta.get("DataModel"), meta.get("EventType")
        if not isinstance(data_model, str) or not isinstance(event_type, str):
            raise Refusal(400, "Meta.DataModel and Meta.EventType are required.")
        allowed = self._destinations.get(data_model, frozenset())
        destinations = meta.get("Destinations")
        ids = {d.get("ID") for d in destinations or [] if isinstance(d, dict)}
        if not isinstance(destinations, list) or not ids & allowed:
            raise Refusal(403, NO_SUBSCRIPTION)
        if data_model == "Organization":
            handled = self._store.organization_event(event_type, body)
        else:
            handled = self._store.provider_event(event_type, body)
        reply_meta = self._meta(meta, event_type=handled.event_type, detail=handled.detail)
        return {"Meta": reply_meta} | handled.fields


def _refused(body: dict[str, Any], identities: frozenset[str]) -> bool:
    """Whether `body` writes a record that the `refuse` fault names."""
    meta = body.get("Meta")
    if not isinstance(meta, dict):
        return False
    data_model, event_type = meta.get("DataModel"), meta.get("EventType")
    if (str(data_model), str(event_type)) not in WRITES:
        return False
    about = _logged_oid(body) if data_model == "Organization" else _logged_identity(body)
    return about in identities


def _logged_oid(body: dict[str, Any]) -> str | None:
    """The OID a request is about, for the request log (refused requests too)."""
    records = body.get("Organizations")
    if isinstance(records, list) and records:
        return organization_oid(records[0])
    identifier = body.get("Identifier")
    if isinstance(identifier, dict) and identifier.get("IDType") in (None, "OID"):
        value = identifier.get("ID")
        return value if isinstance(value, str) else None
    return None


def _logged_identity(body: dict[str, Any]) -> str | None:
    """The provider identity a request is about, for the request log."""
    records = body.get("Providers")
    if isinstance(records, list) and records:
        return provider_identity(records[0])
    return provider_identity(body.get("Provider"))


def _published_destinations() -> dict[str, frozenset[str]]:
    return {
        kind.data_model: frozenset(kind.built_in_destinations.values()) for kind in KINDS.values()
    }
