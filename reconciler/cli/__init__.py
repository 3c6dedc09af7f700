"""The `reconciler` command. This package is the only place that prints, reads the process
environment or exits; each module holds one group of commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from reconciler import redact
from reconciler.cli.apply import apply
from reconciler.cli.base import ReconcilerGroup
from reconciler.cli.github import github
from reconciler.cli.observe import drift, import_
from reconciler.cli.records import plan, schema, show, validate
from reconciler.cli.sandbox import sandbox
from reconciler.cli.scaffold import init
from reconciler.cli.views import graph, history, status


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env", "env_name", default=None, help="Environment (default: $REDOX_ENV or sandbox)."
)
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("-v", "--verbose", is_flag=True, help="Log every request and decision to stderr.")
@click.version_option(package_name="redox-reconciler")
@click.pass_context
def cli(ctx: click.Context, env_name: str | None, repo: Path | None, verbose: bool) -> None:
    """Keep Carequality organization and provider records as YAML in git, and make the Redox
    directory match them."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    redact.filter_root_handlers()
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = {"env": env_name, "repo": repo}


for command in (
    validate,
    plan,
    apply,
    show,
    drift,
    import_,
    schema,
    sandbox,
    graph,
    status,
    history,
    github,
    init,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli()
