"""sandbox serve: the built-in Redox sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from reconciler.cli.base import common
from reconciler.reconcile.workspace import Workspace


@click.group()
def sandbox() -> None:
    """The built-in Redox sandbox."""


@sandbox.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the sandbox keeps its directory (default: .reconciler/sandbox).",
)
@click.option("--latency", type=float, default=None, help="Seconds added to every reply.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=None, help="Share of 502/503.")
@click.option("--rate-limit", type=float, default=None, help="Requests/s above which: 429.")
@click.option("--retry-after", type=float, default=None, help="Retry-After of a 429, seconds.")
@click.option("--token-lifetime", type=int, default=None, help="Seconds a token lives.")
@click.option(
    "--lose-reply-rate",
    type=click.FloatRange(0, 1),
    default=None,
    help="Share of writes whose reply is lost after the change is committed.",
)
@click.option("--seed", type=int, default=None, help="Seed of the fault dice.")
@click.option(
    "--echo-errors",
    is_flag=True,
    default=None,
    help="Repeat the request (headers and body) in every error reply, as a misbehaving proxy does.",
)
@click.option(
    "--refuse",
    multiple=True,
    metavar="IDENTITY",
    help="Refuse writes of this record (OID or provider identity) with Redox's 500.",
)
@click.option(
    "--visibility-delay",
    type=click.FloatRange(0),
    default=None,
    metavar="SECONDS",
    help="Show each accepted change to queries only this many seconds later.",
)
@click.option(
    "--never-visible",
    multiple=True,
    metavar="IDENTITY",
    help="Answer writes of this record with 200 but never store them.",
)
@click.option(
    "--store-differently",
    multiple=True,
    metavar="IDENTITY",
    help="Store writes of this record otherwise than sent (the name in capitals).",
)
@click.option(
    "--preload",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    metavar="FILE",
    help='Records the directory holds first, as if created elsewhere: JSON {"organizations": '
    '[...], "providers": [...]} in Redox\'s wire form (an organization may carry ManagingOrg).',
)
@common
def serve(
    ws: Workspace,
    port: int,
    data: Path | None,
    latency: float | None,
    error_rate: float | None,
    rate_limit: float | None,
    retry_after: float | None,
    token_lifetime: int | None,
    lose_reply_rate: float | None,
    seed: int | None,
    echo_errors: bool | None,
    refuse: tuple[str, ...],
    visibility_delay: float | None,
    never_visible: tuple[str, ...],
    store_differently: tuple[str, ...],
    preload: Path | None,
) -> int:
    """Serve the sandbox on 127.0.0.1 and write a ready client credential to
    <data>/credentials.env (load it with `set -a; . FILE; set +a`). Faults default to the
    REDOX_SANDBOX_* variables."""
    from reconciler.sandbox.serve import faults_from_env
    from reconciler.sandbox.serve import serve as run

    faults = faults_from_env(os.environ)
    given: dict[str, Any] = {
        "latency": latency,
        "error_rate": error_rate,
        "rate_limit": rate_limit,
        "retry_after": retry_after,
        "token_lifetime": token_lifetime,
        "lose_reply_rate": lose_reply_rate,
        "seed": seed,
        "echo_errors": echo_errors or None,
        "refuse": frozenset(refuse) or None,
        "visibility_delay": visibility_delay,
        "never_visible": frozenset(never_visible) or None,
        "store_differently": frozenset(store_differently) or None,
    }
    faults = replace(faults, **{k: v for k, v in given.items() if v is not None})
    folder = (data or ws.sandbox_dir).resolve()

    def ready(url: str) -> None:
        click.echo(f"Sandbox serving on {url}", err=True)
        click.echo(f"Credentials: set -a; . {folder / 'credentials.env'}; set +a", err=True)

    run(data_dir=folder, port=port, faults=faults, ready=ready, preload=preload)
    return 0
