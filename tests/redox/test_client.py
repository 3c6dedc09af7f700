"""RedoxClient against httpx.MockTransport: auth, errors, retries, rate limit, paging."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from factories import OMIT, organization_payload
from redox_schemas import assert_valid_bodies
from virtual_time import VirtualTime

from reconciler.errors import AlreadyExists, AuthError, RedoxError
from reconciler.redox.client import Credentials, RedoxClient

BASE = "https://redox.test"
TOKEN_URL = f"{BASE}/v2/auth/token"
DEV = "a07afe3b-d247-4415-827f-6837707e1b8b"
OID = "2.16.840.1.113883.3.6147.458.12345.1.1.1"

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def _pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
    }


@pytest.fixture
def credentials(keys: dict[str, Any]) -> Credentials:
    return Credentials(client_id="client-1", key_id="kid-1", private_key=_pem(keys["ES384"]))


def query_body() -> dict[str, Any]:
    return {
        "Meta": {"DataModel": "Organization", "EventType": "Query", "Destinations": [{"ID": DEV}]},
        "Directory": "Carequality",
        "Identifier": {"ID": OID, "IDType": "OID"},
    }


def ok_reply(**extra: Any) -> dict[str, Any]:
    return {"Meta": {"DataModel": "Organization", "EventType": "Query"}, **extra}


class FakeTime:
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class Recorder:
    """A MockTransport handler: token requests get tokens, /endpoint requests a scripted reply."""

    def __init__(
        self,
        replies: list[Any] | None = None,
        *,
        expires_in: int = 300,
        token_status: int = 200,
    ) -> None:
        self.replies = list(replies or [])
        self.expires_in = expires_in
        self.token_status = token_status
        self.tokens: list[str] = []
        self.assertions: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            self.assertions.append(form["client_assertion"])
            if self.token_status != 200:
                return httpx.Response(
                    self.token_status,
                    json={"error": "invalid_client", "error_description": "Public key not found"},
                )
            token = f"tok-{uuid.uuid4().hex}"
            self.tokens.append(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in})
        self.bodies.append(json.loads(request.content))
        self.auth_headers.append(request.headers.get("authorization"))
        reply = self.replies.pop(0) if self.replies else httpx.Response(200, json=ok_reply())
        if isinstance(reply, Exception):
            raise reply
        assert isinstance(reply, httpx.Response)
        return reply


def make_client(
    handler: Handler,
    *,
    credentials: Credentials | None = None,
    fake: FakeTime | None = None,
    **options: Any,
) -> RedoxClient:
    fake = fake or FakeTime()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RedoxClient(
        base_url=BASE,
        http=http,
        credentials=credentials,
        sleep=fake.sleep,
        clock=fake.clock,
        **options,
    )


async def _send_all(client: RedoxClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        return list(await asyncio.gather(*(client.send(b) for b in bodies)))
    finally:
        await client.aclose()


def send(client: RedoxClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return asyncio.run(_send_all(client, [body or query_body()]))[0]


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_client_assertion_is_signed_for_the_key_type(keys: dict[str, Any], alg: str) -> None:
    key = keys[alg]
    creds = Credentials(client_id="client-9", key_id="kid-9", private_key=_pem(key))
    seen: dict[str, Any] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            assert form["grant_type"] == "client_credentials"
            assert (
                form["client_assertion_type"]
                == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
            assertion = form["client_assertion"]
            seen["header"] = jwt.get_unverified_header(assertion)
            seen["claims"] = jwt.decode(
                assertion, key.public_key(), algorithms=[alg], audience=TOKEN_URL
            )
            return httpx.Response(200, json={"access_token": "abc", "expires_in": 300})
        seen["authorization"] = request.headers["authorization"]
        return httpx.Response(200, json=ok_reply())

    send(make_client(handler, credentials=creds))
    assert seen["header"] == {"alg": alg, "kid": "kid-9", "typ": "JWT"}
    claims = seen["claims"]
    assert claims["iss"] == claims["sub"] == "client-9"
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] - claims["iat"] == 300
    assert uuid.UUID(claims["jti"]).version == 4
    assert seen["authorization"] == "Bearer abc"


def test_no_credentials_sends_no_authorization() -> None:
    recorder = Recorder()
    send(make_client(recorder))
    assert recorder.auth_headers == [None]
    assert recorder.tokens == []


def test_token_is_reused_then_refreshed_near_expiry(credentials: Credentials) -> None:
    recorder = Recorder(expires_in=300)
    fake = FakeTime()
    client = make_client(recorder, credentials=credentials, fake=fake)

    async def scenario() -> None:
        await client.send(query_body())
        fake.now += 260  # 40 s left: still fresh (margin is min(30 s, 10% of 300 s))
        await client.send(query_body())
        assert len(recorder.tokens) == 1
        fake.now += 15  # 25 s left: refreshed before use
        await client.send(query_body())
        await client.aclose()

    asyncio.run(scenario())
    assert len(recorder.tokens) == 2
    assert len(set(recorder.assertions)) == 2
    assert recorder.auth_headers == [f"Bearer {t}" for t in recorder.tokens[:1] * 2] + [
        f"Bearer {recorder.tokens[1]}"
    ]


def test_short_token_lifetime_uses_ten_percent_margin(credentials: Credentials) -> None:
    recorder = Recorder(expires_in=60)
    fake = FakeTime()
    client = make_client(recorder, credentials=credentials, fake=fake)

    async def scenario() -> None:
        await client.send(query_body())
        fake.now += 53  # 7 s left of 60: above the 6 s margin
        await client.send(query_body())
        assert len(recorder.tokens) == 1
        fake.now += 2  # 5 s left
        await client.send(query_body())
        await client.aclose()

    asyncio.run(scenario())
    assert len(recorder.tokens) == 2


def test_concurrent_callers_share_one_token_refresh(credentials: Credentials) -> None:
    recorder = Recorder()
    client = make_client(recorder, credentials=credentials, rate_limit=1000)
    asyncio.run(_send_all(client, [query_body() for _ in range(6)]))
    assert len(recorder.tokens) == 1
    assert len(recorder.bodies) == 6


def test_401_refreshes_the_token_once_and_retries(credentials: Credentials) -> None:
    unauthorized = httpx.Response(401, json={"Meta": {"Errors": [{"Text": "expired"}]}})
    recorder = Recorder([unauthorized])
    reply = send(make_client(recorder, credentials=credentials))
    assert reply == ok_reply()
    assert len(recorder.tokens) == 2
    assert recorder.auth_headers == [f"Bearer {t}" for t in recorder.tokens]


def test_second_401_is_an_auth_error(credentials: Credentials) -> None:
    unauthorized = [
        httpx.Response(401, json={"Meta": {"Errors": [{"Text": "token revoked"}]}})
        for _ in range(3)
    ]
    recorder = Recorder(unauthorized)
    with pytest.raises(AuthError, match="token revoked") as caught:
        send(make_client(recorder, credentials=credentials))
    assert caught.value.status == 401
    assert len(recorder.bodies) == 2
    assert len(recorder.tokens) == 2


def test_token_refusal_is_auth_error_with_redox_text(credentials: Credentials) -> None:
    recorder = Recorder(token_status=401)
    with pytest.raises(AuthError, match="Public key not found") as caught:
        send(make_client(recorder, credentials=credentials))
    assert caught.value.status == 401
    assert recorder.bodies == []


@pytest.mark.parametrize("expires_in", ["soon", -5, 0, "nan", "inf", [300], True, {"s": 1}])
def test_a_token_reply_without_a_usable_lifetime_is_an_auth_error(
    credentials: Credentials, expires_in: Any
) -> None:
    recorder = Recorder()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": expires_in})
        return await recorder(request)

    with pytest.raises(AuthError, match=r"expires_in .*not a positive number of seconds"):
        send(make_client(handler, credentials=credentials))
    assert recorder.bodies == []  # nothing was sent with a token of unknown life


@pytest.mark.parametrize("expires_in", ["600", None, 90.5])
def test_a_token_lifetime_may_be_digits_or_absent(
    credentials: Credentials, expires_in: Any
) -> None:
    seen: list[str | None] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": "tok-2", "expires_in": expires_in})
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=ok_reply())

    send(make_client(handler, credentials=credentials))
    assert seen == ["Bearer tok-2"]


# -- replies and retries --------------------------------------------------------------------


def test_meta_errors_on_200_is_an_error_with_redox_text() -> None:
    reply = {"Meta": {"Errors": [{"ID": 1, "Text": "1.2.3 already exists."}, {"Text": "second"}]}}
    recorder = Recorder([httpx.Response(200, json=reply)])
    with pytest.raises(RedoxError, match=r"1\.2\.3 already exists\.; second") as caught:
        send(make_client(recorder))
    assert caught.value.status == 200
    assert not caught.value.retryable
    assert "HTTP 200" in str(caught.value)


def test_empty_meta_errors_is_success() -> None:
    body = {"Meta": {"Errors": []}, "Organizations": []}
    recorder = Recorder([httpx.Response(200, json=body)])
    assert send(make_client(recorder)) == body


def test_403_is_not_retried() -> None:
    refused = {"Meta": {"Errors": [{"Text": "id: 1.2.3 is not valid."}]}}
    recorder = Recorder([httpx.Response(403, json=refused), httpx.Response(200, json=ok_reply())])
    fake = FakeTime()
    with pytest.raises(RedoxError, match=r"id: 1\.2\.3 is not valid\.") as caught:
        send(make_client(recorder, fake=fake))
    assert caught.value.status == 403
    assert not caught.value.retryable
    assert len(recorder.bodies) == 1
    assert fake.sleeps == []


def test_non_json_reply_names_status_and_excerpt() -> None:
    recorder = Recorder([httpx.Response(500, text="<html>Internal Server Error</html>")])
    with pytest.raises(RedoxError, match=r"HTTP 500.*Internal Server Error"):
        send(make_client(recorder))


def test_429_honours_retry_after() -> None:
    limited = {"Meta": {"Errors": [{"Text": "rate limited"}]}}
    replies = [
        httpx.Response(429, json=limited, headers={"Retry-After": "7"}),
        httpx.Response(429, json=limited, headers={"Retry-After": "7"}),
    ]
    recorder = Recorder(replies)
    fake = FakeTime()
    assert send(make_client(recorder, fake=fake)) == ok_reply()
    assert len(recorder.bodies) == 3
    retry_sleeps = [s for s in fake.sleeps if s >= 1]  # rate-limit spacing sleeps are tiny
    assert len(retry_sleeps) == 2
    assert all(s >= 7 for s in retry_sleeps)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_5xx_is_retried_with_jittered_backoff(status: int) -> None:
    recorder = Recorder([httpx.Response(status, json={}) for _ in range(4)])
    fake = FakeTime()
    client = make_client(recorder, fake=fake, backoff_base=0.5, backoff_cap=3.0, rate_limit=1e9)
    assert send(client) == ok_reply()
    assert len(recorder.bodies) == 5
    bounds = [0.5, 1.0, 2.0, 3.0]
    assert len(fake.sleeps) == 4
    assert all(0 <= s <= b for s, b in zip(fake.sleeps, bounds, strict=True))


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")],
    ids=["connect-error", "read-timeout"],
)
def test_transport_errors_are_retried(failure: Exception) -> None:
    recorder = Recorder([failure, failure])
    assert send(make_client(recorder, rate_limit=1e9)) == ok_reply()
    assert len(recorder.bodies) == 3


def test_gives_up_after_max_attempts() -> None:
    recorder = Recorder([httpx.Response(503, json={}) for _ in range(10)])
    with pytest.raises(RedoxError, match=r"after 3 attempts.*HTTP 503") as caught:
        send(make_client(recorder, max_attempts=3))
    assert caught.value.retryable
    assert caught.value.status == 503
    assert len(recorder.bodies) == 3


def test_gives_up_naming_a_transport_error() -> None:
    recorder = Recorder([httpx.ConnectError("refused") for _ in range(10)])
    with pytest.raises(RedoxError, match="ConnectError") as caught:
        send(make_client(recorder, max_attempts=2))
    assert caught.value.retryable
    assert len(recorder.bodies) == 2


def test_lost_reply_504_with_meta_errors_is_retryable() -> None:
    lost = {"Meta": {"Errors": [{"Text": "Gateway timeout"}]}}
    recorder = Recorder([httpx.Response(504, json=lost) for _ in range(2)])
    with pytest.raises(RedoxError, match="Gateway timeout") as caught:
        send(make_client(recorder, max_attempts=2))
    assert caught.value.retryable


# -- transport safety -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://api.redoxengine.com", "http://10.0.0.5:8787"])
def test_plain_http_is_refused_for_a_network_host(url: str) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            RedoxClient(base_url=url, http=http, credentials=None)

    with pytest.raises(RedoxError, match="Refusing plain http://"):
        asyncio.run(scenario())


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8787", "http://127.5.0.1", "http://localhost:1", "http://[::1]:80"]
)
def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            RedoxClient(base_url=url, http=http, credentials=None)

    asyncio.run(scenario())


def test_secrets_never_appear_in_logs_reprs_or_errors(
    credentials: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    unauthorized = httpx.Response(401, json={"Meta": {"Errors": [{"Text": "expired"}]}})
    refused = httpx.Response(403, json={"Meta": {"Errors": [{"Text": "nope"}]}})
    recorder = Recorder([unauthorized, httpx.Response(503, json={}), refused])
    with pytest.raises(RedoxError) as caught:
        send(make_client(recorder, credentials=credentials))
    key_body = "".join(credentials.private_key.splitlines()[1:-1])[:40]
    secrets = [key_body, *recorder.tokens, *recorder.assertions]
    assert len(secrets) >= 5
    assert caplog.text  # one line per attempt was logged
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in repr(credentials)
        assert secret not in str(credentials)
        assert secret not in str(caught.value)


# -- credentials from the environment -------------------------------------------------------


def test_credentials_from_env(keys: dict[str, Any], tmp_path: Path) -> None:
    pem = _pem(keys["RS384"])
    assert Credentials.from_env({}) is None
    assert Credentials.from_env({"REDOX_SOURCE_ID": "x"}) is None
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem)
    base = {"REDOX_CLIENT_ID": "c", "REDOX_KEY_ID": "k"}
    for extra in (
        {"REDOX_PRIVATE_KEY": pem},
        {"REDOX_PRIVATE_KEY": pem.replace("\n", "\\n")},  # escaped newlines, as CI secrets
        {"REDOX_PRIVATE_KEY_FILE": str(key_file)},
    ):
        creds = Credentials.from_env(base | extra)
        # Compared without `==` so that a failure never prints the key.
        assert creds is not None
        assert (creds.client_id, creds.key_id) == ("c", "k")
        assert bool(creds.private_key == pem)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDOX_CLIENT_ID": "c", "REDOX_PRIVATE_KEY": "x"}, "REDOX_KEY_ID"),
        ({"REDOX_KEY_ID": "k", "REDOX_PRIVATE_KEY": "x"}, "REDOX_CLIENT_ID"),
        ({"REDOX_CLIENT_ID": "c", "REDOX_KEY_ID": "k"}, "REDOX_PRIVATE_KEY"),
        (
            {"REDOX_CLIENT_ID": "c", "REDOX_KEY_ID": "k", "REDOX_PRIVATE_KEY_FILE": "/nonexistent"},
            "/nonexistent",
        ),
        (
            {"REDOX_CLIENT_ID": "c", "REDOX_KEY_ID": "k", "REDOX_PRIVATE_KEY": "not a key"},
            "not PEM",
        ),
    ],
)
def test_partial_or_bad_credentials_are_a_clear_error(env: dict[str, str], named: str) -> None:
    with pytest.raises(AuthError, match=named) as caught:
        Credentials.from_env(env)
    assert "\n" not in str(caught.value)
    assert "not a key" not in str(caught.value)


# -- rate limit and concurrency -------------------------------------------------------------


def test_rate_limiter_spreads_calls_evenly() -> None:
    vt = VirtualTime()
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(vt.now)
        return httpx.Response(200, json=ok_reply())

    rate = 10.0
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = RedoxClient(
        base_url=BASE,
        http=http,
        credentials=None,
        rate_limit=rate,
        concurrency=4,
        sleep=vt.sleep,
        clock=vt.clock,
    )
    vt.run(_send_all(client, [query_body() for _ in range(25)]))
    assert len(sent_at) == 25
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert min(gaps) >= 1 / rate - 1e-9
    # No one-second window holds more than `rate` requests, yet the calls are not serialised
    # beyond the rate: 25 calls take about 2.5 s of virtual time.
    assert all(sum(1 for t in sent_at if s <= t < s + 1) <= rate for s in sent_at)
    assert sent_at[-1] - sent_at[0] < 25 / rate * 1.2


def test_concurrency_bound_holds() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json=ok_reply())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = RedoxClient(base_url=BASE, http=http, credentials=None, rate_limit=1e9, concurrency=3)
    asyncio.run(_send_all(client, [query_body() for _ in range(12)]))
    assert peak == 3


# -- queries --------------------------------------------------------------------------------


def test_query_organizations_pages_with_index_and_limit() -> None:
    records = [
        organization_payload(f"1.2.{i}", f"Org {i}", type=OMIT, part_of=OMIT) for i in range(45)
    ]
    bodies: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        index, limit = int(body["Index"]), int(body["Limit"])
        page = records[index : index + limit]
        return httpx.Response(
            200,
            json={
                "Meta": {"DataModel": "Organization", "EventType": "QueryResponse"},
                "Organizations": page,
                "Paging": {"Count": len(records), "Index": index},
            },
        )

    client = make_client(handler, source_id="src-1")

    async def scenario() -> list[dict[str, Any]]:
        try:
            return await client.query_organizations(
                directory="Carequality",
                destination=DEV,
                name="Org",
                state="WI",
                page_size=20,
            )
        finally:
            await client.aclose()

    found = asyncio.run(scenario())
    assert found == records
    assert [b["Index"] for b in bodies] == ["0", "20", "40"]
    assert {b["Limit"] for b in bodies} == {"20"}
    first = bodies[0]
    assert first["Meta"] == {
        "DataModel": "Organization",
        "EventType": "Query",
        "Destinations": [{"ID": DEV}],
        "Source": {"ID": "src-1"},
    }
    assert first["NameSearch"] == {"SearchType": "Contains", "Value": "Org"}
    assert first["State"] == "WI"
    assert "Identifier" not in first
    assert_valid_bodies(bodies)


def test_query_organizations_stops_at_paging_count() -> None:
    records = [
        organization_payload(f"1.2.{i}", f"Org {i}", type=OMIT, part_of=OMIT) for i in range(40)
    ]
    bodies: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        index = int(body["Index"])
        return httpx.Response(
            200,
            json={
                "Meta": {"DataModel": "Organization", "EventType": "QueryResponse"},
                "Organizations": records[index : index + 20],
                "Paging": {"Count": 40, "Index": index},
            },
        )

    client = make_client(handler)

    async def scenario() -> list[dict[str, Any]]:
        try:
            return await client.query_organizations(
                directory="Carequality", destination=DEV, oid=OID, page_size=20
            )
        finally:
            await client.aclose()

    assert len(asyncio.run(scenario())) == 40
    assert len(bodies) == 2
    assert bodies[0]["Identifier"] == {"ID": OID, "IDType": "OID"}
    assert "Source" not in bodies[0]["Meta"]
    assert_valid_bodies(bodies)


def test_query_providers_sends_the_schema_shape() -> None:
    provider = {"Identifiers": [{"ID": "4356789876", "IDType": "NPI"}], "IsActive": True}
    reply = {"Meta": {"DataModel": "Provider", "EventType": "ProviderQueryResponse"}}
    recorder = Recorder([httpx.Response(200, json=reply | {"Providers": [provider]})])
    client = make_client(recorder)

    async def scenario() -> list[dict[str, Any]]:
        try:
            return await client.query_providers(
                destination="dest-1",
                identifier={"ID": "4356789876", "IDType": "NPI"},
            )
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == [provider]
    body = recorder.bodies[0]
    assert body["Meta"]["EventType"] == "ProviderQuery"
    assert body["Provider"] == {"Identifiers": [{"ID": "4356789876", "IDType": "NPI"}]}
    assert_valid_bodies(recorder.bodies)


def test_rate_limiter_counts_real_sends_when_a_pause_bunches_them() -> None:
    """A pause (GC, a ledger write) wakes several spaced callers at once: the window of the
    last second still holds no more sends than the limit."""
    from reconciler.redox.throttle import RateLimiter

    clock = {"now": 0.0}
    sent: list[float] = []
    pauses = iter([0.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0, 0.0, 0.6] + [0.0] * 100)

    async def sleep(delay: float) -> None:
        # Every so often a sleeper wakes late, as under a stop-the-world pause.
        clock["now"] += delay + next(pauses)
        await asyncio.sleep(0)

    limiter = RateLimiter(10.0, sleep=sleep, clock=lambda: clock["now"])

    async def one() -> None:
        await limiter.acquire()
        sent.append(clock["now"])

    async def run() -> None:
        await asyncio.gather(*(one() for _ in range(40)))

    asyncio.run(run())
    sent.sort()
    worst = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert worst <= 10, f"{worst} sends within one second at a limit of 10/s"


def test_callers_queued_behind_a_failed_token_refresh_share_its_failure(
    credentials: Credentials,
) -> None:
    """With Redox unreachable, five waiting calls cost one refresh's retries, not five."""
    token_requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            token_requests.append(request)
            return httpx.Response(503, json={"error": "unavailable"})
        raise AssertionError("no /endpoint call may be sent without a token")

    client = make_client(handler, credentials=credentials, max_attempts=2, concurrency=5)

    async def run() -> list[BaseException | dict[str, Any]]:
        try:
            return list(
                await asyncio.gather(
                    *(client.send(query_body()) for _ in range(5)), return_exceptions=True
                )
            )
        finally:
            await client.aclose()

    outcomes = asyncio.run(run())
    assert all(isinstance(o, RedoxError) for o in outcomes), outcomes
    assert len(token_requests) == 2, "one refresh (max_attempts=2), shared by every caller"


# -- 429: the rate adapts (AIMD) --------------------------------------------------------------


class StrictServer:
    """A MockTransport handler that accepts at most `limit` requests in any second of virtual
    time and answers 429 with Retry-After beyond that, as `sandbox serve --rate-limit` does."""

    def __init__(self, vt: VirtualTime, limit: int, *, retry_after: float = 1.0) -> None:
        self.vt = vt
        self.limit = limit
        self.retry_after = retry_after
        self.accepted: list[float] = []
        self.limited: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.vt.now
        if sum(1 for t in self.accepted if t > now - 1.0) >= self.limit:
            self.limited.append(now)
            return httpx.Response(
                429,
                json={"Meta": {"Errors": [{"Text": "Rate limit exceeded"}]}},
                headers={"Retry-After": f"{self.retry_after:g}"},
            )
        self.accepted.append(now)
        return httpx.Response(200, json=ok_reply())


def strict_client(vt: VirtualTime, server: StrictServer, *, rate: float) -> RedoxClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return RedoxClient(
        base_url=BASE,
        http=http,
        credentials=None,
        rate_limit=rate,
        concurrency=8,
        sleep=vt.sleep,
        clock=vt.clock,
    )


def test_429s_slow_the_client_down_until_every_call_succeeds() -> None:
    """A server at a fifth of the client's rate: every call succeeds, with few 429s."""
    vt = VirtualTime()
    server = StrictServer(vt, 5)
    client = strict_client(vt, server, rate=25)
    replies = vt.run(_send_all(client, [query_body() for _ in range(150)]))
    assert len(replies) == 150
    assert len(server.accepted) == 150
    # Without adapting, 150 calls at 25/s against 5/s would draw hundreds of 429s and some
    # calls would run out of attempts.
    assert len(server.limited) < 40, len(server.limited)
    span = server.accepted[-1] - server.accepted[0]
    assert 150 / span > 2.5, f"{150 / span:.1f} calls/s against a limit of 5/s"


def test_a_429_halves_the_rate_once_per_burst_and_it_creeps_back() -> None:
    from reconciler.redox.throttle import RateLimiter

    vt = VirtualTime()
    limiter = RateLimiter(20.0, sleep=vt.sleep, clock=vt.clock)

    async def scenario() -> list[float]:
        rates = []
        cuts = [await limiter.acquire() for _ in range(3)]
        for c in cuts:  # three 429s for requests sent at the same rate: one cut
            limiter.slow_down(c, None)
        rates.append(limiter.rate)
        limiter.slow_down(await limiter.acquire(), None)  # sent after the cut: cut again
        rates.append(limiter.rate)
        await vt.sleep(2.0)
        await limiter.acquire()
        rates.append(limiter.rate)
        await vt.sleep(60.0)
        await limiter.acquire()
        rates.append(limiter.rate)
        return rates

    halved, quartered, crept, restored = vt.run(scenario())
    assert halved == 10.0
    assert 5.0 <= quartered < 5.5  # halved again, then crept for the slot it waited for
    assert 5.0 < crept < 10.0
    assert restored == 20.0
    assert limiter.throttled == 4


def test_the_rate_never_falls_below_one_request_per_second() -> None:
    from reconciler.redox.throttle import RateLimiter

    vt = VirtualTime()
    limiter = RateLimiter(25.0, sleep=vt.sleep, clock=vt.clock)

    async def scenario() -> list[float]:
        rates = []
        for _ in range(20):
            limiter.slow_down(await limiter.acquire(), None)
            rates.append(limiter.rate)
        return rates

    rates = vt.run(scenario())
    assert min(rates) >= 1.0
    assert rates[-1] < 1.1  # down at the floor (it creeps up a little during each wait)


def test_retry_after_holds_back_every_later_send() -> None:
    vt = VirtualTime()
    server = StrictServer(vt, 1, retry_after=5.0)
    client = strict_client(vt, server, rate=25)
    vt.run(_send_all(client, [query_body() for _ in range(4)]))
    assert len(server.accepted) == 4
    first_429 = server.limited[0]
    # Once the server said "retry after 5 s", nothing was sent for 5 s.
    assert not [t for t in server.accepted + server.limited[1:] if first_429 < t < first_429 + 5]


def test_tokens_that_expire_while_calls_wait_never_fail_a_call(credentials: Credentials) -> None:
    """Tokens that live 1 s, calls that wait for slots and retries: each send carries a token
    that is still valid, and a 401 for one that expired in flight is renewed, however often."""
    vt = VirtualTime()
    issued: dict[str, float] = {}
    refused = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        if request.url.path == "/v2/auth/token":
            token = f"tok-{uuid.uuid4().hex}"
            issued[token] = vt.now + 1.0
            return httpx.Response(200, json={"access_token": token, "expires_in": 1})
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        await vt.sleep(0.3)  # the token may expire while the request is on its way
        if vt.now >= issued.get(token, 0.0):
            refused += 1
            return httpx.Response(401, json={"Meta": {"Errors": [{"Text": "Unauthorized"}]}})
        return httpx.Response(200, json=ok_reply())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = RedoxClient(
        base_url=BASE,
        http=http,
        credentials=credentials,
        rate_limit=10,
        concurrency=8,
        sleep=vt.sleep,
        clock=vt.clock,
    )
    replies = vt.run(_send_all(client, [query_body() for _ in range(40)]))
    assert len(replies) == 40
    assert refused > 1, "the scenario must make tokens expire in flight more than once"


# -- Redox log IDs and unanswered attempts ----------------------------------------------------

LOGS = {"Logs": [{"ID": "d9f5d293-7110-461e-a875-3beb089e79f3", "AttemptID": "925d1617"}]}


def test_a_refusal_carries_the_answers_redox_log_id() -> None:
    refused = {"Meta": {"Errors": [{"Text": f"{OID} already exists."}], **LOGS}}
    recorder = Recorder([httpx.Response(403, json=refused)])
    with pytest.raises(AlreadyExists) as caught:
        send(make_client(recorder))
    assert caught.value.log_id == "d9f5d293-7110-461e-a875-3beb089e79f3"
    assert caught.value.attempt_id == "925d1617"
    assert not caught.value.earlier_unknown


def test_giving_up_keeps_the_last_answers_log_id_and_a_lost_reply_has_none() -> None:
    dropped = {"Meta": {"Errors": [{"Text": "Request dropped"}], **LOGS}}
    recorder = Recorder([httpx.Response(502, json=dropped) for _ in range(3)])
    with pytest.raises(RedoxError) as caught:
        send(make_client(recorder, max_attempts=3))
    assert caught.value.log_id == "d9f5d293-7110-461e-a875-3beb089e79f3"

    recorder = Recorder([httpx.ReadTimeout("timed out") for _ in range(2)])
    with pytest.raises(RedoxError) as caught:
        send(make_client(recorder, max_attempts=2))
    assert caught.value.log_id is None


@pytest.mark.parametrize(
    ("first", "unknown"),
    [
        (httpx.Response(504, json={"Meta": {"Errors": [{"Text": "Gateway timeout"}]}}), True),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.Response(502, json={}), True),
        (httpx.Response(429, json={}, headers={"Retry-After": "0"}), False),  # not carried out
    ],
    ids=["504", "timeout", "502", "429"],
)
def test_a_refusal_after_an_unanswered_attempt_says_the_earlier_one_may_have_landed(
    first: Any, unknown: bool
) -> None:
    refused = {"Meta": {"Errors": [{"Text": f"{OID} already exists."}]}}
    recorder = Recorder([first, httpx.Response(403, json=refused)])
    with pytest.raises(AlreadyExists) as caught:
        send(make_client(recorder, rate_limit=1e9))
    assert len(recorder.bodies) == 2
    assert caught.value.earlier_unknown is unknown
