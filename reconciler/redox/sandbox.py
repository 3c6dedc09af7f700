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
Organizations[] record) stores it as if another client had changed the directory.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import itertools
import json
import logging
import random
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reconciler.redox.sandbox_directory import (
    MANAGING_ORG,
    ORG_PUT,
    PARSE_FAILED,
    Directory,
    Refusal,
    organization_oid,
    provider_identity,
)

__all__ = [
    "DEVELOPMENT_ORG_DESTINATION",
    "MANAGING_ORG",
    "NO_SUBSCRIPTION",
    "PARSE_FAILED",
    "PRODUCTION_ORG_DESTINATION",
    "PUBLIC_KEY_NOT_FOUND",
    "SANDBOX_PROVIDER_DESTINATION",
    "Faults",
    "Sandbox",
    "meta_errors",
]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEVELOPMENT_ORG_DESTINATION = "a07afe3b-d247-4415-827f-6837707e1b8b"
PRODUCTION_ORG_DESTINATION = "5d0fd248-6c52-4ad9-b907-ae10bf2dcc39"
SANDBOX_PROVIDER_DESTINATION = "3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13"
MAX_BODY = 10 * 1024 * 1024

NO_SUBSCRIPTION = (
    "No subscriptions. Meta.Destinations needs to contain a destination from existing subscription."
)
PUBLIC_KEY_NOT_FOUND = "Public key not found, check client_id, kid and Redox dashboard settings"
UNAUTHORIZED = "Unauthorized: the access token is missing, invalid or expired; get a new one."
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


@dataclass(frozen=True)
class Faults:
    """Faults the sandbox injects into /endpoint (and the lifetime of the tokens it issues)."""

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: float | None = None
    retry_after: float = 1.0
    token_lifetime: int = 300
    lose_reply_rate: float = 0.0
    seed: int | None = None


@dataclass
class _Reply:
    status: int
    payload: Any
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _load_public_key(pem: str) -> Any:
    data = pem.encode()
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        # A private key PEM is accepted too: its public half is what is trusted.
        return serialization.load_pem_private_key(data, password=None).public_key()


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Sandbox:
    """The ASGI app; also exposes the directory and the request log to tests and the CLI."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        faults: Faults = Faults(),
        require_auth: bool = False,
        trusted_keys: Mapping[tuple[str, str], str] | None = None,
        organization_destinations: frozenset[str] = frozenset(
            {DEVELOPMENT_ORG_DESTINATION, PRODUCTION_ORG_DESTINATION}
        ),
        provider_destinations: frozenset[str] = frozenset({SANDBOX_PROVIDER_DESTINATION}),
        clock: Callable[[], float] = time.monotonic,
        keep_requests: bool = True,
    ) -> None:
        # A long-lived server (`sandbox serve`) keeps its request log on disk only: in memory
        # it would grow without bound. In-process users read `requests`.
        self.requests: list[dict[str, Any]] = []
        self._keep_requests = keep_requests or data_dir is None
        self._directory = Directory(data_dir)
        self._require_auth = require_auth
        self._keys = {ident: _load_public_key(pem) for ident, pem in (trusted_keys or {}).items()}
        self._destinations = {
            "Organization": frozenset(organization_destinations),
            "Provider": frozenset(provider_destinations),
        }
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._seen_jti: set[str] = set()
        self._window: collections.deque[float] = collections.deque()
        self._ids = itertools.count(1)
        self.set_faults(faults)

    # -- state for tests and the CLI --------------------------------------------------------

    def organizations(self) -> dict[str, dict[str, Any]]:
        """OID -> stored record (wire form), a copy."""
        return copy.deepcopy(self._directory.organizations)

    def providers(self) -> dict[str, dict[str, Any]]:
        """Identity -> stored provider record (wire form), a copy."""
        return copy.deepcopy(self._directory.providers)

    def creations(self) -> dict[str, int]:
        """Identity -> how many times a New succeeded for it."""
        return dict(self._directory.creations)

    def put_organization(self, record: dict[str, Any]) -> None:
        """Store `record` as if another client had changed the directory."""
        oid = organization_oid(record)
        if oid is None:
            raise ValueError("the record has no Identifiers[] entry with IDType OID")
        self._directory.commit(ORG_PUT, oid, record)

    def set_faults(self, faults: Faults) -> None:
        """Inject these faults from now on (reseeding the fault randomness)."""
        self._faults = faults
        self._random = random.Random(faults.seed)

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
            "/v2/auth/token": ("POST",),
            "/endpoint": ("POST",),
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
        if path == "/v2/auth/token":
            return self._token_route(headers, body)
        if path == "/endpoint":
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
                self.requests if self._keep_requests else self._directory.read_requests()
            ),
        }
        return _Reply(200, views[path]())

    def _log(self, entry: dict[str, Any]) -> None:
        if self._keep_requests:
            self.requests.append(entry)
        self._directory.log_request(entry)
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
            "path": "/v2/auth/token",
            "data_model": None,
            "event_type": None,
            "oid": None,
            "identity": None,
            "body": None,  # the form carries the client assertion: never logged
        }
        try:
            client_id, lifetime, token = self._issue_token(headers, body)
        except Refusal as refusal:
            code = "invalid_client" if refusal.status == 401 else "invalid_request"
            entry |= {"status": refusal.status, "outcome": "refused", "error": refusal.text}
            self._log(entry)
            return _Reply(refusal.status, {"error": code, "error_description": refusal.text})
        entry |= {"status": 200, "outcome": "ok", "error": None, "client_id": client_id}
        self._log(entry)
        return _Reply(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    def _issue_token(self, headers: dict[str, str], body: bytes) -> tuple[str, int, str]:
        content_type = headers.get("content-type", "")
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            raise Refusal(400, "x-www-form-urlencoded content-type required")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("latin-1")).items()}
        if "grant_type" not in form:
            raise Refusal(400, "Missing grant_type parameter")
        if form["grant_type"] != "client_credentials":
            raise Refusal(400, "The grant_type parameter should equal 'client_credentials'")
        assertion = form.get("client_assertion")
        if not assertion:
            raise Refusal(400, "Missing client assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Refusal(400, "The client assertion is not a valid JWT") from None
        kid = header.get("kid")
        if not kid:
            raise Refusal(400, "JWT header kid property is required")
        key = self._keys.get((str(unverified.get("iss")), str(kid)))
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise Refusal(401, PUBLIC_KEY_NOT_FOUND)
        # The registered key decides the algorithm: a header cannot downgrade it.
        alg = "RS384" if isinstance(key, rsa.RSAPublicKey) else "ES384"
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "jti"], "verify_aud": False},
            )
        except jwt.InvalidTokenError as exc:
            raise Refusal(401, f"Invalid client assertion: {exc}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(str(aud).endswith("/v2/auth/token") for aud in audiences):
            raise Refusal(401, "Invalid client assertion: aud must be the token URL")
        if float(claims["exp"]) > time.time() + 300 + 30:
            raise Refusal(401, "Invalid client assertion: exp is more than 5 minutes away")
        if claims["jti"] in self._seen_jti:
            raise Refusal(401, "Invalid client assertion: jti was already used")
        self._seen_jti.add(str(claims["jti"]))
        lifetime = self._faults.token_lifetime
        token = secrets.token_urlsafe(32)
        now = self._clock()
        # Drop expired tokens so a long-running server does not grow without bound.
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        self._tokens[token] = now + lifetime
        return str(claims["iss"]), lifetime, token

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        expires_at = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expires_at is not None and self._clock() < expires_at

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
            "path": "/endpoint",
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
        if self._faults.latency > 0:
            await asyncio.sleep(self._faults.latency)
        errors = meta_errors(reply.payload)
        entry |= {"status": reply.status, "outcome": outcome, "error": "; ".join(errors) or None}
        self._log(entry)
        return reply

    def _endpoint_reply(
        self, headers: dict[str, str], body: Any, meta: dict[str, Any]
    ) -> tuple[_Reply, str]:
        if self._require_auth and not self._authorized(headers):
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
            handled = self._directory.organization_event(event_type, body)
        else:
            handled = self._directory.provider_event(event_type, body)
        reply_meta = self._meta(meta, event_type=handled.event_type, detail=handled.detail)
        return {"Meta": reply_meta} | handled.fields


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


def meta_errors(payload: Any) -> list[str]:
    """The Meta.Errors[].Text of a reply body (empty when there are none)."""
    meta = payload.get("Meta") if isinstance(payload, dict) else None
    errors = meta.get("Errors") if isinstance(meta, dict) else None
    return [str(e.get("Text")) for e in errors or [] if isinstance(e, dict)]
