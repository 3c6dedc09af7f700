"""init: start a records repository."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import reconcile, version


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), default="."
)
@click.option("--force", is_flag=True, help="Replace files that are already there.")
def init(directory: Path, force: bool) -> int:
    """Start a records repository in DIRECTORY (default: here): settings, an example record,
    .gitignore, the plan, sync and drift workflows, and a pre-commit hook."""
    written = reconcile.init_repository(directory, version=version(), force=force)
    for item in written:
        click.echo(f"{'replaced' if item.replaced else 'wrote'} {item.path}")
    click.echo(
        f"Started a records repository in {directory} for redox-reconciler {version()}. Next: "
        "edit orgs/example-clinic.yaml, then `reconciler validate` and `reconciler plan`."
    )
    return 0
