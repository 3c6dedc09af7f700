"""verify: read back what the ledger says was applied, and mark what the directory shows."""

from __future__ import annotations

import asyncio

import click

from reconciler import reconcile
from reconciler.cli.base import common, environ
from reconciler.reconcile import Checked
from reconciler.reconcile.session import session
from reconciler.reconcile.workspace import Workspace
from reconciler.render import render_verified


@click.command()
@click.option("--all", "every", is_flag=True, help="Read back every ledgered record.")
@common
def verify(ws: Workspace, every: bool) -> int:
    """Read back the records whose last apply is unverified (--all: every ledgered record) and
    compare them with the ledger; exit 1 while any is not shown as applied."""

    async def run() -> Checked:
        async with session(ws, environ(), lock="verify") as api:
            workers = ws.settings.file.api.concurrency
            return await reconcile.verify(ws, api, every=every, concurrency=workers)

    checked = asyncio.run(run())
    click.echo(render_verified(checked.verification, ws.env_name, every=every), nl=False)
    return 0 if not checked.verification.unverified else 1
