"""A session with Redox for one workspace: the environment's lock, its credentials and its
client (kept apart so that commands which never talk to Redox do not import httpx)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from reconciler.errors import AuthError
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import RedoxApi
from reconciler.redox.auth import Credentials
from reconciler.redox.client import RedoxClient

IN_PROCESS_URL = "http://sandbox"


@asynccontextmanager
async def session(
    ws: Workspace,
    environ: Mapping[str, str],
    *,
    concurrency: int | None = None,
    lock: str | None = None,
    offline_ok: bool = False,
) -> AsyncIterator[RedoxApi]:
    """A Redox client for the workspace's environment, holding the environment's lock for
    `lock` (e.g. "apply") when given. The in-process sandbox serves `sandbox`; any other
    environment is Redox (or `sandbox serve`) at REDOX_BASE_URL or `api.base_url`,
    authenticated with the REDOX_* credentials of `environ`. With `offline_ok`, missing
    credentials fail the first request instead (for work that may need none)."""
    async with AsyncExitStack() as stack:
        if lock is not None:
            stack.enter_context(ws.ledger_store.lock(lock))
        api: RedoxApi
        try:
            api = await stack.enter_async_context(_client(ws, environ, concurrency))
        except AuthError as missing:
            if not offline_ok:
                raise
            api = _Offline(missing)
        yield api


class _Offline:
    """Redox without credentials: every request fails with the error that says which to set."""

    def __init__(self, error: AuthError) -> None:
        self._error = error

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        raise self._error


@asynccontextmanager
async def _client(
    ws: Workspace, environ: Mapping[str, str], concurrency: int | None
) -> AsyncIterator[RedoxClient]:
    api = ws.settings.file.api
    workers = concurrency or api.concurrency
    if ws.environment.in_process:
        from reconciler.sandbox.app import Sandbox

        transport = httpx.ASGITransport(app=Sandbox(data_dir=ws.sandbox_dir))
        async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL) as http:
            # In-process: no network to protect, so no client-side rate limit to speak of.
            yield RedoxClient(
                base_url=IN_PROCESS_URL,
                http=http,
                credentials=None,
                rate_limit=10_000,
                concurrency=workers,
                timeout=api.timeout,
            )
        return
    base_url = environ.get("REDOX_BASE_URL") or api.base_url
    credentials = Credentials.from_env(environ)
    if credentials is None:
        raise AuthError(
            f"environment {ws.env_name} talks to Redox at {base_url} and needs "
            "credentials: set REDOX_CLIENT_ID, REDOX_KEY_ID and REDOX_PRIVATE_KEY (or "
            "REDOX_PRIVATE_KEY_FILE). For a local try, use --env sandbox."
        )
    async with httpx.AsyncClient(timeout=api.timeout) as http:
        yield RedoxClient(
            base_url=base_url,
            http=http,
            credentials=credentials,
            source_id=environ.get("REDOX_SOURCE_ID") or None,
            rate_limit=api.rate_limit,
            concurrency=workers,
            timeout=api.timeout,
        )
