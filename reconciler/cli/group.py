"""The `reconciler` command: its options shared by every subcommand, and each subcommand,
imported from its module when it runs."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from reconciler.cli.base import JOBS_HELP, ReconcilerGroup
from reconciler.formats import redact

# Each command, as "module:name". A command's module is imported only when that command runs
# (or `--help` lists it): `validate` and `plan` load neither asyncio, httpx nor uvicorn.
COMMANDS = {
    "validate": "reconciler.cli.planning:validate",
    "plan": "reconciler.cli.planning:plan",
    "apply": "reconciler.cli.apply:apply",
    "show": "reconciler.cli.planning:show",
    "drift": "reconciler.cli.observe:drift",
    "import": "reconciler.cli.observe:import_",
    "verify": "reconciler.cli.verify:verify",
    "schema": "reconciler.cli.planning:schema",
    "sandbox": "reconciler.cli.sandbox:sandbox",
    "graph": "reconciler.cli.views:graph",
    "status": "reconciler.cli.views:status",
    "history": "reconciler.cli.views:history",
    "report": "reconciler.cli.views:report",
    "github": "reconciler.cli.github:github",
    "init": "reconciler.cli.scaffold:init",
    "audit": "reconciler.cli.audit:audit",
}


class LazyGroup(ReconcilerGroup):
    """A group whose commands are imported when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, name = where.partition(":")
        command: click.Command = getattr(importlib.import_module(module), name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env", "env_name", default=None, help="Environment (default: $REDOX_ENV or sandbox)."
)
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("-v", "--verbose", is_flag=True, help="Log every request and decision to stderr.")
@click.option(
    "--no-cache", is_flag=True, help="Read every record file again (no .reconciler/cache)."
)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help=JOBS_HELP)
@click.version_option(package_name="redox-reconciler")
@click.pass_context
def cli(
    ctx: click.Context,
    env_name: str | None,
    repo: Path | None,
    verbose: bool,
    no_cache: bool,
    jobs: int | None,
) -> None:
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
    ctx.obj = {"env": env_name, "repo": repo, "no_cache": no_cache, "jobs": jobs}


def main() -> None:
    """Console-script entry point."""
    cli()
