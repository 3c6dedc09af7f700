"""drift and import: the commands that read what the directory really holds."""

from __future__ import annotations

import asyncio
import json

import click

from reconciler import reconcile
from reconciler.cli.base import common, environ
from reconciler.cli.notifying import mask, notify
from reconciler.git.reader import head_commit
from reconciler.reconcile import Adoption, DriftReport
from reconciler.reconcile.session import session
from reconciler.reconcile.workspace import Workspace
from reconciler.render import (
    drift_document,
    drift_scope,
    render_drift_markdown,
    render_drift_text,
    render_import,
)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@click.option(
    "--rotate",
    type=click.IntRange(1, 366),
    default=None,
    metavar="K",
    help="Check today's part, 1/K of the records (default: drift.rotate).",
)
@common
def drift(ws: Workspace, fmt: str, rotate: int | None) -> int:
    """Query the directory for the ledgered records (today's part of them with --rotate) and
    report what differs (exit 2)."""

    async def run() -> DriftReport:
        async with session(ws, environ()) as api:
            workers = ws.settings.file.api.concurrency
            return await reconcile.drift(ws, api, concurrency=workers, rotate=rotate)

    mask(ws)
    report = asyncio.run(run())
    drifts, checked = report.drifts, report.checked
    part, ledgered = report.part, report.ledgered
    if drifts:
        counts = {"drifted": len(drifts), "checked": checked, "ledgered": ledgered}
        notify(ws, "drift.found", counts, detail=drift_scope(part, checked, ledgered))
    if fmt == "json":
        document = drift_document(drifts, checked, ws.env_name, part=part, ledgered=ledgered)
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    elif fmt == "markdown":
        text = render_drift_markdown(drifts, checked, ws.env_name, part=part, ledgered=ledgered)
        click.echo(text)
    else:
        text = render_drift_text(drifts, checked, ws.env_name, part=part, ledgered=ledgered)
        click.echo(text, nl=False)
    return 2 if drifts else 0


@click.command(name="import")
@click.option("--oid", "oids", multiple=True, metavar="OID", help="Adopt these organizations.")
@click.option("--from-files", is_flag=True, help="Adopt every record in the files not ledgered.")
@click.option("--write-yaml", is_flag=True, help="Write a file for adopted records that have none.")
@common
def import_(ws: Workspace, oids: tuple[str, ...], from_files: bool, write_yaml: bool) -> int:
    """Adopt records that already exist in the directory into the ledger. Sends no New."""

    async def run() -> list[Adoption]:
        # Offline is fine until a record must be looked up: restoring files from the ledger
        # needs no credentials.
        async with session(ws, environ(), lock="import", offline_ok=True) as api:
            return await reconcile.import_(
                ws,
                api,
                oids=oids,
                from_files=from_files,
                write_yaml=write_yaml,
                commit=head_commit(ws.repo),
                concurrency=ws.settings.file.api.concurrency,
            )

    adoptions = asyncio.run(run())
    click.echo(render_import(adoptions, ws.env_name), nl=False)
    return 0
