"""No secret in the trail, ever: a Redox (or a proxy in front of it) that echoes the request's
token back into its answer, where the trail takes the Redox log ID from, gets `***` into the
trail, never the token; and the chain holds over what was written."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sandbox_server import run_cli

from reconciler.audit import entry_for
from reconciler.audit.verify import check_chain
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.auth import Credentials
from reconciler.redox.client import RedoxClient

ENV = "development"
BASE = "https://redox.test"
QUERY = {
    "Meta": {
        "DataModel": "Organization",
        "EventType": "Query",
        "Destinations": [{"ID": "a07afe3b-d247-4415-827f-6837707e1b8b"}],
    },
    "Directory": "Carequality",
    "Identifier": {"ID": "2.16.840.1.113883.3.6147.458.12345.1.1.1", "IDType": "OID"},
}


class EchoingRedox:
    """Gives out tokens; answers every request with a log ID that holds its Authorization
    header (a debugging proxy, a misconfigured gateway)."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            token = f"tok-{uuid.uuid4().hex}"
            self.tokens.append(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 300})
        echoed = request.headers.get("authorization", "")
        return httpx.Response(
            200,
            json={
                "Meta": {
                    "DataModel": "Organization",
                    "EventType": "Query",
                    "Logs": [{"ID": f"log {echoed} end", "AttemptID": echoed}],
                }
            },
        )


def answer_of(server: EchoingRedox) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = Credentials(client_id="client-1", key_id="kid-1", private_key=pem)

    async def run() -> dict[str, Any]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        client = RedoxClient(base_url=BASE, http=http, credentials=credentials)
        try:
            return await client.send(QUERY)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_a_server_that_echoes_the_token_does_not_get_it_into_the_trail(tmp_path: Path) -> None:
    server = EchoingRedox()
    answer = answer_of(server)
    [token] = server.tokens
    log_id = answer["Meta"]["Logs"][0]["ID"]
    assert token in log_id  # the answer holds it: the trail must not

    ws = Workspace(repo=tmp_path, env_name=ENV)
    entry = ws.audit_trail().append(
        entry_for(
            environment=ENV,
            actor=f"ci-bot {token}",
            via="github",
            result="applied",
            approved_by=[token],
            policy_overrides=[f"policy-{token}"],
            calls=[
                {
                    "key": "organization:2.16.840.1.113883.3.6147.458.12345.1.1.1",
                    "action": "update",
                    "status": "applied",
                    "redox_log_id": log_id,
                }
            ],
        )
    )
    written = ws.audit_path.read_text("utf-8")
    assert token not in written
    assert token[4:20] not in written
    line = json.loads(written)
    assert line["calls"][0]["redox_log_id"] == "log Bearer *** end"
    assert (line["actor"], line["approved_by"], line["policy_overrides"]) == (
        "ci-bot ***",
        ["***"],
        ["policy-***"],
    )
    # The chain is over what was written, so the trail verifies as it is.
    assert entry.hash == line["hash"]
    count, _last, bad, _notes, _seen = check_chain(ws.audit_trail().lines(), environment=ENV)
    assert (count, bad) == (1, None)
    assert not ws.audit_pending_path.exists()
    for args in (("show",), ("show", "--format", "csv"), ("show", "--format", "json"), ("verify",)):
        done = run_cli(tmp_path, "audit", *args, "--env", ENV)
        assert done.returncode == 0, done.stdout + done.stderr
        assert token not in done.stdout + done.stderr


def test_the_private_key_never_reaches_the_trail(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    Credentials(client_id="client-1", key_id="kid-1", private_key=pem)  # registers it, as the CLI
    body_line = pem.splitlines()[1]
    ws = Workspace(repo=tmp_path, env_name=ENV)
    ws.audit_trail().append(
        entry_for(
            environment=ENV,
            actor="dev",
            via="local",
            result="refused",
            approved_by=[body_line],
        )
    )
    written = ws.audit_path.read_text("utf-8")
    assert body_line not in written
    assert '"approved_by":["***"]' in written
