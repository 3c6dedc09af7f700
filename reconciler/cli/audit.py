"""audit verify, audit show: the environment's audit trail (SPEC 9). Read-only: no network, no
credentials, no lock."""

from __future__ import annotations

import json

import click

from reconciler.cli.base import common
from reconciler.reconcile.workspace import Workspace
from reconciler.render import (
    audit_document,
    render_audit_csv,
    render_audit_text,
    render_verification,
    verification_document,
)


@click.group()
def audit() -> None:
    """The audit trail: who applied what, when, and on whose approval."""


@audit.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="sha256:HEX",
    help="A line's hash noted at an earlier audit: the trail must still hold that line.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@common
def verify(ws: Workspace, anchors: tuple[str, ...], fmt: str) -> int:
    """Check the chain of the trail and, in git, that each committed version of it extends the
    one before; exit 1 naming the first bad line or commit."""
    from reconciler.reconcile import audit as use_case

    found = use_case.verify(ws, anchors=anchors)
    if fmt == "json":
        click.echo(json.dumps(verification_document(found), indent=2, ensure_ascii=False))
    else:
        click.echo(render_verification(found), nl=False)
    return 0 if found.ok else 1


@audit.command("show")
@click.option("--since", metavar="DATE", default=None, help="Only entries from this date on.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
@common
def show(ws: Workspace, since: str | None, fmt: str) -> int:
    """Print the trail: text, JSON, or CSV for a spreadsheet (one row per call)."""
    from reconciler.reconcile import audit as use_case

    after = use_case.since_time(since) if since is not None else None
    found = use_case.entries(ws, since=after)
    trail, environment = ws.audit_shown, ws.env_name
    if fmt == "json":
        document = audit_document(found, environment=environment, trail=trail, since=after)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(render_audit_csv(found), nl=False)
    else:
        click.echo(
            render_audit_text(found, environment=environment, trail=trail, since=after), nl=False
        )
    return 0
