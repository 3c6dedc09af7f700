"""graph, status, history, report: views of the files, the ledgers and git. No network, no
credentials."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from reconciler import reconcile
from reconciler.cli.base import color, common
from reconciler.reconcile.workspace import Workspace
from reconciler.records.settings import SANDBOX
from reconciler.render import (
    history_document,
    render_dot,
    render_graph_text,
    render_history_text,
    render_mermaid,
    render_status_text,
    status_document,
)


def _box_drawing() -> bool:
    """Box-drawing characters on a terminal that can show them; plain ASCII elsewhere."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return sys.stdout.isatty() and encoding in {"utf8", "utf16", "utf32"}


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text")
@click.option(
    "--providers", is_flag=True, help="Add the records of other kinds under their organizations."
)
@common
def graph(ws: Workspace, fmt: str, providers: bool) -> int:
    """The organization hierarchy, each record marked by what the plan for --env does to it."""
    hierarchy = reconcile.graph(ws, attached=providers)
    if fmt == "mermaid":
        click.echo(render_mermaid(hierarchy), nl=False)
    elif fmt == "dot":
        click.echo(render_dot(hierarchy), nl=False)
    else:
        text = render_graph_text(
            hierarchy, environment=ws.env_name, unicode=_box_drawing(), color=color()
        )
        click.echo(text, nl=False)
    return 0


def _sandbox_named(ctx: click.Context) -> bool:
    """Whether the sandbox was named (--env before or after the command, or REDOX_ENV), rather
    than taken as the default."""
    parent = ctx.find_object(dict) or {}
    named = ctx.params.get("env_name") or parent.get("env") or os.environ.get("REDOX_ENV")
    return named == SANDBOX


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@common
def status(ws: Workspace, fmt: str) -> int:
    """Every record x every environment: in sync, or what is pending there."""
    found = reconcile.status(ws, sandbox=_sandbox_named(click.get_current_context()))
    if fmt == "json":
        click.echo(json.dumps(status_document(found), indent=2, ensure_ascii=False))
    else:
        click.echo(render_status_text(found, color=color()), nl=False)
    return 0


@click.command()
@click.argument("identity")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@common
def history(ws: Workspace, identity: str, fmt: str) -> int:
    """One record's changes in git, and when each environment got them."""
    found = reconcile.history(ws, identity)
    if fmt == "json":
        click.echo(json.dumps(history_document(found), indent=2, ensure_ascii=False))
    else:
        click.echo(render_history_text(found), nl=False)
    return 0


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Folder to write index.html into.",
)
@common
def report(ws: Workspace, out: Path) -> int:
    """Write the directory report: one self-contained HTML page (status, hierarchy, history,
    unverified records, audit trail) for the people who do not read YAML."""
    from reconciler.render.html import render_report_html  # Jinja2: loaded by this command only

    found = reconcile.gather_report(ws, sandbox=_sandbox_named(click.get_current_context()))
    written = reconcile.save_report(out, render_report_html(found))
    rows = len(found.status.rows)
    click.echo(
        f"Wrote {written}: {rows} record{'' if rows == 1 else 's'} in "
        f"{len(found.status.environments)} environments. Open it in a browser."
    )
    return 0
