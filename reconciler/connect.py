"""Open a Redox client for a workspace's environment (kept apart so that commands which never
talk to Redox do not import httpx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from reconciler.errors import AuthError
from reconciler.redox.auth import Credentials
from reconciler.redox.client import RedoxClient
from reconciler.redox.sandbox import Sandbox
from reconciler.settings import (
    DEVELOPMENT_ORG_DESTINATION,
    PRODUCTION_ORG_DESTINATION,
    SANDBOX_PROVIDER_DESTINATION,
)
from reconciler.workspace import Workspace


@asynccontextmanager
async def connect(
    ws: Workspace,
    *,
    credentials: Credentials | None,
    base_url: str | None,
    concurrency: int | None = None,
) -> AsyncIterator[RedoxClient]:
    """A Redox client for the workspace's environment: the in-process sandbox for `sandbox`,
    otherwise Redox (or `sandbox serve`) at `base_url`, authenticated with `credentials`."""
    api = ws.settings.file.api
    workers = concurrency or api.concurrency
    if ws.env.is_sandbox:
        app = Sandbox(
            data_dir=ws.sandbox_dir,
            organization_destinations=frozenset(
                {DEVELOPMENT_ORG_DESTINATION, PRODUCTION_ORG_DESTINATION}
            ),
            provider_destinations=frozenset({SANDBOX_PROVIDER_DESTINATION}),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            # In-process: no network to protect, so no client-side rate limit to speak of.
            yield RedoxClient(
                base_url="http://sandbox",
                http=http,
                credentials=None,
                rate_limit=10_000,
                concurrency=workers,
                timeout=api.timeout,
            )
        return
    if credentials is None:
        raise AuthError(
            f"environment {ws.env_name} talks to Redox at {base_url or api.base_url} and needs "
            "credentials: set REDOX_CLIENT_ID, REDOX_KEY_ID and REDOX_PRIVATE_KEY (or "
            "REDOX_PRIVATE_KEY_FILE). For a local try, use --env sandbox."
        )
    async with httpx.AsyncClient(timeout=api.timeout) as http:
        yield RedoxClient(
            base_url=base_url or api.base_url,
            http=http,
            credentials=credentials,
            rate_limit=api.rate_limit,
            concurrency=workers,
            timeout=api.timeout,
        )
