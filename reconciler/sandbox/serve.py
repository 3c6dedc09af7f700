"""`reconciler sandbox serve`: the sandbox over real HTTP on 127.0.0.1, with a ready credential."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from reconciler.errors import ReconcilerError
from reconciler.sandbox.app import Sandbox
from reconciler.sandbox.faults import Faults
from reconciler.sandbox.preload import read_preload

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
KEY_FILE = "client-key.pem"
CLIENT_FILE = "client.json"
CREDENTIALS_FILE = "credentials.env"


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only from the first byte."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_client_credential(data_dir: Path) -> tuple[str, str, Path, str]:
    """The sandbox's client (client id, kid, key path, public key PEM), generated on first use."""
    key_path = data_dir / KEY_FILE
    client_path = data_dir / CLIENT_FILE
    try:
        client = json.loads(client_path.read_text(encoding="utf-8"))
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        client_id, key_id = str(client["client_id"]), str(client["key_id"])
    except (OSError, ValueError, KeyError, TypeError):
        # First start (or a half-written pair): a new client; nothing else trusts the old one.
        private = ec.generate_private_key(ec.SECP384R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        client_id, key_id = f"sandbox-{uuid.uuid4()}", str(uuid.uuid4())
        _write_private(key_path, pem)
        _write_private(client_path, json.dumps({"client_id": client_id, "key_id": key_id}) + "\n")
        logger.info("sandbox: generated client %s (kid %s)", client_id, key_id)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return client_id, key_id, key_path.resolve(), public_pem


def serve(
    *,
    data_dir: Path,
    port: int = 8787,
    faults: Faults = Faults(),  # noqa: B008 (frozen: one shared default is safe)
    ready: Callable[[str], None] | None = None,
    preload: Path | None = None,
) -> None:
    """Serve the sandbox on 127.0.0.1:`port` (0: any free port) until interrupted; with a
    `preload` file, the directory holds its records first (as if created elsewhere)."""
    records = read_preload(preload) if preload is not None else None
    data_dir.mkdir(parents=True, exist_ok=True)
    client_id, key_id, key_path, public_pem = ensure_client_credential(data_dir)
    # Bound and listening before credentials.env names the port: a client that reads the
    # file at once waits in the backlog instead of being refused.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen(128)
        except OSError as exc:
            raise ReconcilerError(
                f"The sandbox cannot listen on {HOST}:{port}: {exc.strerror or exc}. "
                "Choose another port, or port 0 for any free one."
            ) from exc
        url = f"http://{HOST}:{sock.getsockname()[1]}"
        _write_private(
            data_dir / CREDENTIALS_FILE,
            # Quoted only where a shell needs it, so `set -a; . credentials.env` always works.
            f"REDOX_CLIENT_ID={shlex.quote(client_id)}\n"
            f"REDOX_KEY_ID={shlex.quote(key_id)}\n"
            f"REDOX_PRIVATE_KEY_FILE={shlex.quote(str(key_path))}\n"
            f"REDOX_BASE_URL={url}\n",
        )
        app = Sandbox(
            data_dir=data_dir,
            faults=faults,
            require_auth=True,
            trusted_keys={(client_id, key_id): public_pem},
            keep_requests=False,
            preload=records,
        )
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        asyncio.run(_run(uvicorn.Server(config), sock, url, ready))
    finally:
        sock.close()


async def _run(
    server: uvicorn.Server,
    sock: socket.socket,
    url: str,
    ready: Callable[[str], None] | None,
) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    logger.info("sandbox: serving on %s", url)
    if ready is not None:
        ready(url)
    await task


def faults_from_env(env: Mapping[str, str]) -> Faults:
    """Faults from REDOX_SANDBOX_* variables; the default for each one unset."""
    defaults = Faults()

    def number(name: str, default: float | None) -> float | None:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ReconcilerError(f"{name} must be a number, got {raw!r}.") from None
        if value < 0:
            raise ReconcilerError(f"{name} must not be negative, got {raw!r}.")
        return value

    def fraction(name: str) -> float:
        value = number(name, 0.0) or 0.0
        if value > 1:
            raise ReconcilerError(f"{name} is a fraction from 0 to 1, got {value}.")
        return value

    def identities(name: str) -> frozenset[str]:
        return frozenset(i.strip() for i in env.get(name, "").split(",") if i.strip())

    lifetime = number("REDOX_SANDBOX_TOKEN_LIFETIME", defaults.token_lifetime)
    seed = number("REDOX_SANDBOX_SEED", None)
    return Faults(
        latency=number("REDOX_SANDBOX_LATENCY", defaults.latency) or 0.0,
        error_rate=fraction("REDOX_SANDBOX_ERROR_RATE"),
        rate_limit=number("REDOX_SANDBOX_RATE_LIMIT", None) or None,
        retry_after=number("REDOX_SANDBOX_RETRY_AFTER", defaults.retry_after) or 0.0,
        token_lifetime=int(lifetime if lifetime is not None else defaults.token_lifetime),
        lose_reply_rate=fraction("REDOX_SANDBOX_LOSE_REPLY_RATE"),
        seed=int(seed) if seed is not None else None,
        echo_errors=env.get("REDOX_SANDBOX_ECHO_ERRORS", "").strip().lower() in {"1", "true"},
        refuse=identities("REDOX_SANDBOX_REFUSE"),
        visibility_delay=number("REDOX_SANDBOX_VISIBILITY_DELAY", 0.0) or 0.0,
        never_visible=identities("REDOX_SANDBOX_NEVER_VISIBLE"),
        store_differently=identities("REDOX_SANDBOX_STORE_DIFFERENTLY"),
    )
