"""The Redox Data Model API client: JWT client-credential auth, retries, rate limit, paging."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from reconciler.errors import AuthError, RedoxError, Throttled
from reconciler.formats import redact
from reconciler.redox.api import (
    ENDPOINT_PATH,
    TOKEN_PATH,
    RedoxLog,
    meta_errors,
    organization_query,
    provider_query,
    query_pages,
    redox_log,
    refusal_class,
    with_source,
)
from reconciler.redox.auth import Credentials, signing_key
from reconciler.redox.throttle import RateLimiter

logger = logging.getLogger(__name__)
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Redox accepts assertions valid for at most five minutes.
ASSERTION_LIFETIME = 300
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_IN_PROCESS_TRANSPORTS = (httpx.ASGITransport, httpx.MockTransport)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str, http: httpx.AsyncClient) -> str:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise RedoxError(f"The Redox base URL {base_url!r} is not a URL: {exc}") from None
    if url.scheme == "https":
        return base_url.rstrip("/")
    # An in-process transport (the sandbox app, a test double) sends nothing over a network.
    in_process = isinstance(getattr(http, "_transport", None), _IN_PROCESS_TRANSPORTS)
    if url.scheme == "http" and (_is_loopback(url.host) or in_process):
        return base_url.rstrip("/")
    if url.scheme == "http":
        raise RedoxError(
            f"Refusing plain http:// for {url.host}: tokens and records would cross the network "
            "unencrypted. Use https://, or http:// only for a loopback address "
            "(127.0.0.1, ::1, localhost) such as `reconciler sandbox serve`."
        )
    raise RedoxError(f"The Redox base URL must start with https:// (got {base_url!r}).")


@dataclass
class _Token:
    value: str
    expires_at: float
    lifetime: float


def _lifetime(expires_in: Any) -> float:
    """A token's lifetime in seconds from the reply's `expires_in` (a number, or digits in a
    string; ASSERTION_LIFETIME when absent); AuthError when it is not a positive number."""
    if expires_in is None or expires_in == "":
        return ASSERTION_LIFETIME
    try:
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
            raise ValueError
        lifetime = float(expires_in)
    except ValueError:
        lifetime = 0.0
    if not 0 < lifetime < float("inf"):
        raise AuthError(
            f"Redox's token reply gives expires_in {_excerpt(repr(expires_in), 40)}, not a "
            "positive number of seconds: the token cannot be used. Check api.base_url (is it "
            "Redox's?) and try again."
        )
    return lifetime


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _event(body: Mapping[str, Any]) -> str:
    meta = body.get("Meta")
    if not isinstance(meta, dict):
        return "request"
    return f"{meta.get('DataModel', '?')}.{meta.get('EventType', '?')}"


class RedoxClient:
    """An async client of the Redox Data Model API (`/endpoint`) and its token endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        credentials: Credentials | None,
        source_id: str | None = None,
        rate_limit: float = 25.0,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit <= 0 or concurrency < 1 or max_attempts < 1 or timeout <= 0:
            raise ValueError("rate_limit, timeout > 0 and concurrency, max_attempts >= 1 required")
        self._base_url = _check_base_url(base_url, http)
        self._token_url = self._base_url + TOKEN_PATH
        self._endpoint_url = self._base_url + ENDPOINT_PATH
        self._http = http
        self._credentials = credentials
        self._source_id = source_id
        self._signing = signing_key(credentials) if credentials is not None else None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._clock = clock
        self._limiter = RateLimiter(rate_limit, sleep=sleep, clock=clock)
        self._in_flight = asyncio.Semaphore(concurrency)
        self._token_lock = asyncio.Lock()
        self._token: _Token | None = None
        self._refreshes = 0
        self._refresh_failure: RedoxError | None = None
        self._random = random.Random()

    async def __aenter__(self) -> RedoxClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        await self._http.aclose()

    # -- auth -------------------------------------------------------------------------------

    def _assertion(self) -> str:
        assert self._credentials is not None
        assert self._signing is not None
        key, alg = self._signing
        now = int(time.time())
        claims = {
            "iss": self._credentials.client_id,
            "sub": self._credentials.client_id,
            "aud": self._token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        headers = {"kid": self._credentials.key_id, "typ": "JWT"}
        assertion = jwt.encode(claims, key, algorithm=alg, headers=headers)
        redact.register(assertion)
        return assertion

    def _fresh(self, token: _Token) -> bool:
        margin = min(30.0, 0.1 * token.lifetime)
        return token.expires_at - self._clock() >= margin

    async def _access_token(self, *, stale: str | None = None) -> _Token | None:
        """A valid access token; a new one when the cached one is near expiry or is `stale`."""
        if self._credentials is None:
            return None
        token = self._token
        if token is not None and token.value != stale and self._fresh(token):
            return token
        # One refresh at a time: callers that queued behind it reuse its token, or its failure
        # (each redoing a refresh that just failed would cost the whole retry budget again).
        waited_from = self._refreshes
        async with self._token_lock:
            if self._refresh_failure is not None and self._refreshes != waited_from:
                raise self._refresh_failure
            token = self._token
            if token is None or token.value == stale or not self._fresh(token):
                try:
                    token = await self._fetch_token()
                except RedoxError as exc:
                    self._refresh_failure = exc
                    raise
                finally:
                    self._refreshes += 1  # refreshes finished, failed or not
                self._refresh_failure = None
                self._token = token
            return token

    async def _fetch_token(self) -> _Token:
        cause = ""
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            # A fresh assertion per attempt: its jti must never be replayed.
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self._assertion(),
            }
            # The token's lifetime counts from the request: the server's clock started earlier
            # than the reply arrives, so counting from the reply would outlive the token.
            asked_at = self._clock()
            try:
                response = await self._http.post(self._token_url, data=form, timeout=self._timeout)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                cause = f"{type(exc).__name__} on the token request"
                logger.debug("token request: %s (attempt %d)", type(exc).__name__, attempt)
            else:
                logger.debug("token request: HTTP %d (attempt %d)", response.status_code, attempt)
                if response.status_code not in RETRYABLE_STATUSES:
                    return self._read_token(response, asked_at)
                cause = f"HTTP {response.status_code} on the token request"
                retry_after = _retry_after(response)
            if attempt < self._max_attempts:
                await self._backoff(attempt, retry_after)
        raise AuthError(
            f"Could not get a Redox access token after {self._max_attempts} attempts: {cause}.",
            retryable=True,
        )

    def _read_token(self, response: httpx.Response, asked_at: float) -> _Token:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success and isinstance(payload, dict) and payload.get("access_token"):
            redact.register(str(payload["access_token"]))
            lifetime = _lifetime(payload.get("expires_in"))
            return _Token(str(payload["access_token"]), asked_at + lifetime, lifetime)
        texts = meta_errors(payload)
        if not texts and isinstance(payload, dict):
            texts = [
                str(payload[k])
                for k in ("error_description", "message", "error")
                if payload.get(k) and (k != "error" or "error_description" not in payload)
            ]
        if not texts:
            texts = [_excerpt(response.text) or "no explanation given"]
        raise AuthError(
            f"Redox refused the client credentials (HTTP {response.status_code}): "
            f"{'; '.join(texts)}",
            status=response.status_code,
        )

    # -- requests ---------------------------------------------------------------------------

    async def _backoff(self, attempt: int, retry_after: float | None) -> None:
        # Full jitter spreads retries of many callers; Retry-After is a floor, never shortened.
        delay = self._random.uniform(
            0, min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        )
        if retry_after is not None:
            delay = max(retry_after, delay)
        await self._sleep(delay)

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one Data Model request to /endpoint; the reply, or RedoxError (typed: see
        reconciler.errors). With a source ID, Meta.Source names it."""
        body = with_source(body, self._source_id)
        event = _event(body)
        attempt = 0
        refused_fresh = False  # a token that should still have been valid was refused
        stale: str | None = None
        cause = ""
        last_status: int | None = None
        last_log: RedoxLog | None = None
        # An earlier attempt went unanswered (it may have landed): a refusal of this one may
        # be the directory answering that attempt's change.
        unknown = False
        while True:
            attempt += 1
            retry_after: float | None = None
            token = await self._access_token(stale=stale)
            try:
                async with self._in_flight:
                    cuts = await self._limiter.acquire()
                    if token is not None and not self._fresh(token):
                        # The wait for a slot outlived the token: never send one that expired.
                        token = await self._access_token(stale=stale)
                    headers = {"Authorization": f"Bearer {token.value}"} if token else {}
                    response = await self._http.post(
                        self._endpoint_url, json=body, headers=headers, timeout=self._timeout
                    )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                cause = f"{type(exc).__name__} ({_excerpt(str(exc), 120) or 'no detail'})"
                last_status, last_log = None, None
                unknown = True
                logger.debug("%s: %s (attempt %d)", event, type(exc).__name__, attempt)
            else:
                status = response.status_code
                logger.debug("%s: HTTP %d (attempt %d)", event, status, attempt)
                if status == 401 and token is not None:
                    # A token that has expired by now is simply renewed, as often as that
                    # happens (short-lived tokens must never fail a call). One that should
                    # still be valid may have been revoked: renewed once, then it is an error.
                    stale = token.value
                    if not self._fresh(token):
                        if attempt < self._max_attempts:
                            continue
                    elif not refused_fresh:
                        refused_fresh = True
                        attempt -= 1
                        continue
                if status not in RETRYABLE_STATUSES:
                    return self._read_reply(event, response, earlier_unknown=unknown)
                answer = _json_or_none(response)
                texts = meta_errors(answer)
                cause = f"HTTP {status}" + (f": {'; '.join(texts)}" if texts else "")
                last_status, last_log = status, redox_log(answer)
                unknown = unknown or status != 429  # a 429 was not carried out
                retry_after = _retry_after(response)
                if status == 429:
                    self._limiter.slow_down(cuts, retry_after)
            if attempt >= self._max_attempts:
                error_class = Throttled if last_status == 429 else RedoxError
                raise error_class(
                    f"{event} failed after {attempt} attempts; last cause: {cause}.",
                    status=last_status,
                    retryable=True,
                    log_id=last_log.id if last_log else None,
                    attempt_id=last_log.attempt_id if last_log else None,
                    earlier_unknown=unknown,
                )
            await self._backoff(attempt, retry_after)

    def _read_reply(
        self, event: str, response: httpx.Response, *, earlier_unknown: bool
    ) -> dict[str, Any]:
        status = response.status_code
        payload = _json_or_none(response)
        if not isinstance(payload, dict):
            raise RedoxError(
                f"{event}: Redox answered HTTP {status} with a body that is not a JSON object: "
                f"{_excerpt(response.text) or '(empty)'}",
                status=status,
                earlier_unknown=earlier_unknown,
            )
        texts = meta_errors(payload)
        error_class = refusal_class(status, texts)
        log = redox_log(payload)
        facts: dict[str, Any] = {
            "status": status,
            "log_id": log.id if log else None,
            "attempt_id": log.attempt_id if log else None,
            "earlier_unknown": earlier_unknown,
        }
        if texts:
            raise error_class(
                f"{event} refused by Redox (HTTP {status}): {'; '.join(texts)}", **facts
            )
        if status >= 400:
            # A failure status without Meta.Errors is still a failure, never a silent success.
            raise error_class(
                f"{event} refused by Redox (HTTP {status}): {_excerpt(response.text)}", **facts
            )
        return payload

    # -- queries ----------------------------------------------------------------------------

    async def query_organizations(
        self,
        *,
        directory: str,
        destination: str,
        oid: str | None = None,
        name: str | None = None,
        state: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """Every organization matching the filters, fetched page by page."""
        query = organization_query(
            directory=directory, destination=destination, oid=oid, name=name, state=state
        )
        return await query_pages(self, query, records="Organizations", page_size=page_size)

    async def query_providers(
        self, *, destination: str, identifier: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The providers that carry `identifier` ({"ID": ..., "IDType": ...})."""
        reply = await self.send(provider_query(destination=destination, identifier=identifier))
        return list(reply.get("Providers") or [])


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
