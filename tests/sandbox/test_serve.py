"""`serve()` in a real subprocess on 127.0.0.1: the credential file and the real JWT auth path."""

from __future__ import annotations

import asyncio
import functools
import select
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from factories import organization_payload
from redox_schemas import assert_valid_bodies, schema_errors
from sandbox_server import served_sandbox

from reconciler.errors import AuthError, ReconcilerError, Refused
from reconciler.redox.api import DEVELOPMENT_ORGANIZATION_DESTINATION, PUBLIC_KEY_NOT_FOUND
from reconciler.redox.client import Credentials, RedoxClient
from reconciler.sandbox.app import Faults
from reconciler.sandbox.serve import faults_from_env, serve

OID = "2.16.840.1.113883.3.6147.458.12345.1.1.1"
STARTUP_LIMIT = 20.0  # generous: a loaded CI machine may be slow to import and bind

SERVE_SCRIPT = """
import sys
from pathlib import Path
from reconciler.sandbox.serve import serve
serve(data_dir=Path(sys.argv[1]), port=0, ready=lambda url: print(url, flush=True))
"""


@dataclass
class Served:
    process: subprocess.Popen[str]
    data_dir: Path
    url: str
    env: dict[str, str]


def _start(data_dir: Path) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + STARTUP_LIMIT
        line = ""
        while not line and time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else ""
                pytest.fail(f"serve() exited early ({process.returncode}): {stderr}")
            readable, _, _ = select.select([process.stdout], [], [], 0.2)
            if readable:
                line = process.stdout.readline().strip()
        assert line, "serve() never reported that it was ready"
        env = {}
        for row in (data_dir / "credentials.env").read_text().splitlines():
            name, _, value = row.partition("=")
            env[name] = value
        return Served(process, data_dir, line, env)
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = _start(tmp_path / "sandbox")
    try:
        yield server
    finally:
        _stop(server.process)


# The organization these tests send: organization_payload with a contact and a city.
org_record = functools.partial(
    organization_payload,
    name="My Company Facility 1",
    Contacts=[{"Name": "Support", "EmailAddresses": ["support@example.com"]}],
    Address={"City": "Madison", "State": "WI"},
)


def new_body(oid: str) -> dict[str, Any]:
    return {
        "Meta": {
            "DataModel": "Organization",
            "EventType": "New",
            "Destinations": [{"ID": DEVELOPMENT_ORGANIZATION_DESTINATION}],
        },
        "Directory": "Carequality",
        "Action": "Create",
        "Organizations": [org_record(oid)],
    }


def client_for(served: Served, credentials: Credentials | None) -> RedoxClient:
    return RedoxClient(
        base_url=served.env["REDOX_BASE_URL"],
        http=httpx.AsyncClient(),
        credentials=credentials,
        max_attempts=2,
    )


def test_credential_file_and_real_auth_path(served: Served) -> None:
    env = served.env
    assert set(env) == {
        "REDOX_CLIENT_ID",
        "REDOX_KEY_ID",
        "REDOX_PRIVATE_KEY_FILE",
        "REDOX_BASE_URL",
    }
    assert env["REDOX_BASE_URL"] == served.url
    assert served.url.startswith("http://127.0.0.1:")
    assert not served.url.endswith(":0")
    key_file = Path(env["REDOX_PRIVATE_KEY_FILE"])
    assert key_file.is_absolute()
    for path in (key_file, served.data_dir / "credentials.env"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = Credentials.from_env(env)
    assert credentials is not None
    sent = [new_body(OID)]

    async def scenario() -> list[dict[str, Any]]:
        client = client_for(served, credentials)
        try:
            await client.send(sent[0])
            found = await client.query_organizations(
                directory="Carequality",
                destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
                oid=OID,
            )
            async with httpx.AsyncClient(base_url=served.url) as raw:
                # Without a token the endpoint refuses; the test hooks need none.
                anonymous = await raw.post("/endpoint", json=sent[0])
                assert anonymous.status_code == 401
                log = (await raw.get("/_sandbox/requests")).json()
                creations = (await raw.get("/_sandbox/creations")).json()
            assert creations == {OID: 1}
            assert [(r["path"], r["status"]) for r in log] == [
                ("/v2/auth/token", 200),
                ("/endpoint", 200),
                ("/endpoint", 200),
                ("/endpoint", 401),
            ]
            return found
        finally:
            await client.aclose()

    found = asyncio.run(scenario())
    assert_valid_bodies(sent)
    assert [r["Name"] for r in found] == ["My Company Facility 1"]
    reply = {"Meta": {"DataModel": "Organization", "EventType": "QueryResponse"}}
    assert schema_errors(reply | {"Directory": "Carequality", "Organizations": found}) == []
    on_disk = (served.data_dir / "requests.jsonl").read_text().splitlines()
    assert len(on_disk) == 4
    secret_text = key_file.read_text()
    assert secret_text.splitlines()[1] not in "".join(on_disk)


def test_a_key_the_sandbox_does_not_know_is_refused(served: Served) -> None:
    stranger = ec.generate_private_key(ec.SECP384R1())
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = Credentials(
        client_id=served.env["REDOX_CLIENT_ID"], key_id="unknown-kid", private_key=pem
    )

    async def scenario() -> None:
        client = client_for(served, credentials)
        try:
            await client.send(new_body(OID))
        finally:
            await client.aclose()

    with pytest.raises(AuthError, match=PUBLIC_KEY_NOT_FOUND):
        asyncio.run(scenario())


def test_an_echoing_sandbox_writes_no_bearer_token(tmp_path: Path) -> None:
    """`sandbox serve --echo-errors` repeats the Authorization header in its error replies (the
    client must mask it); what the sandbox itself writes shows `Bearer ***` instead."""
    stranger = "Bearer not-issued-here-0123456789abcdef"  # a token the sandbox never issued
    sent: list[str] = []

    async def keep_authorization(request: httpx.Request) -> None:
        if "authorization" in request.headers:
            sent.append(request.headers["authorization"])

    with served_sandbox(tmp_path / "served", echo_errors=True) as served:
        credentials = Credentials.from_env(served.environ())
        wrong = new_body(OID)
        wrong["Meta"]["Destinations"] = [{"ID": "00000000-0000-4000-8000-000000000000"}]

        async def scenario() -> list[httpx.Response]:
            http = httpx.AsyncClient(event_hooks={"request": [keep_authorization]})
            client = RedoxClient(
                base_url=served.url, http=http, credentials=credentials, max_attempts=1
            )
            try:
                with pytest.raises(Refused):
                    await client.send(wrong)  # 403: no subscription to that destination
            finally:
                await client.aclose()
            async with httpx.AsyncClient(base_url=served.url) as raw:
                return [
                    await raw.post("/endpoint", json=wrong, headers={"Authorization": header})
                    for header in (*sent, stranger)
                ]

        replies = asyncio.run(scenario())
        logged = served.requests()

    (issued,) = sent
    # The fault works: each error reply repeats the header it was sent.
    assert [
        (r.status_code, header in r.text)
        for r, header in zip(replies, [issued, stranger], strict=True)
    ] == [
        (403, True),
        (401, True),
    ]
    echoed = [entry["error"] for entry in logged if entry["path"] == "/endpoint"]
    assert len(echoed) == 3
    assert all('"authorization": "Bearer ***"' in error for error in echoed), echoed
    written = [path for path in served.data_dir.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"requests.jsonl", "serve.log"}
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        for header in (issued, stranger):
            assert header.split()[1] not in text, (path.name, header)


def test_restart_reuses_the_credential_and_the_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox"
    first = _start(data_dir)
    try:
        credentials = Credentials.from_env(first.env)

        async def create() -> None:
            client = client_for(first, credentials)
            try:
                await client.send(new_body(OID))
            finally:
                await client.aclose()
            async with httpx.AsyncClient(base_url=first.url) as raw:
                changed = org_record(f"{OID}.2", name="Added by another client")
                assert (await raw.put("/_sandbox/organizations", json=changed)).status_code == 200

        asyncio.run(create())
    finally:
        _stop(first.process)
    second = _start(data_dir)
    try:
        assert second.env["REDOX_CLIENT_ID"] == first.env["REDOX_CLIENT_ID"]
        assert second.env["REDOX_KEY_ID"] == first.env["REDOX_KEY_ID"]
        credentials = Credentials.from_env(second.env)

        async def query() -> list[dict[str, Any]]:
            client = client_for(second, credentials)
            try:
                return await client.query_organizations(
                    directory="Carequality",
                    destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
                )
            finally:
                await client.aclose()

        names = sorted(r["Name"] for r in asyncio.run(query()))
        assert names == ["Added by another client", "My Company Facility 1"]
    finally:
        _stop(second.process)


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ReconcilerError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(data_dir=tmp_path / "sandbox", port=port)


def test_faults_from_env() -> None:
    assert faults_from_env({}) == Faults()
    env = {
        "REDOX_SANDBOX_LATENCY": "0.25",
        "REDOX_SANDBOX_ERROR_RATE": "0.1",
        "REDOX_SANDBOX_RATE_LIMIT": "25",
        "REDOX_SANDBOX_RETRY_AFTER": "2",
        "REDOX_SANDBOX_TOKEN_LIFETIME": "60",
        "REDOX_SANDBOX_LOSE_REPLY_RATE": "0.5",
        "REDOX_SANDBOX_SEED": "42",
        "REDOX_SANDBOX_REFUSE": "1.2.3, 1234567893,",
    }
    assert faults_from_env(env) == Faults(
        latency=0.25,
        error_rate=0.1,
        rate_limit=25.0,
        retry_after=2.0,
        token_lifetime=60,
        lose_reply_rate=0.5,
        seed=42,
        refuse=frozenset({"1.2.3", "1234567893"}),
    )
    with pytest.raises(ReconcilerError, match="REDOX_SANDBOX_ERROR_RATE"):
        faults_from_env({"REDOX_SANDBOX_ERROR_RATE": "2"})
    with pytest.raises(ReconcilerError, match="REDOX_SANDBOX_LATENCY"):
        faults_from_env({"REDOX_SANDBOX_LATENCY": "soon"})
