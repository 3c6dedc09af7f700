"""drift and import: the commands that read what the directory really holds."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler import ledger as ledgers
from reconciler.adopt import Adoption, adopt, file_name, oid_keys, record
from reconciler.cli.apply import git_commit, session
from reconciler.cli.base import common
from reconciler.drift import compare, observe
from reconciler.errors import LoadError, PlanError
from reconciler.loader import load_records
from reconciler.render import drift_document, render_drift_markdown, render_drift_text
from reconciler.workspace import Workspace


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
@common
def drift(ws: Workspace, fmt: str) -> int:
    """Query the directory for every ledgered record and report what differs (exit 2)."""
    environ = dict(os.environ)
    current = ws.ledger()

    async def run() -> dict[str, dict[str, Any] | None]:
        async with session(ws, environ) as api:
            return dict(
                await observe(
                    api,
                    current,
                    env=ws.target,
                    source_id=environ.get("REDOX_SOURCE_ID") or None,
                    concurrency=ws.settings.file.api.concurrency,
                )
            )

    seen = asyncio.run(run())
    drifts = compare(current, seen)
    checked = len(current.records)
    if fmt == "json":
        document = drift_document(drifts, checked, ws.env_name)
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(render_drift_markdown(drifts, checked, ws.env_name))
    else:
        click.echo(render_drift_text(drifts, checked, ws.env_name), nl=False)
    return 2 if drifts else 0


@click.command(name="import")
@click.option("--oid", "oids", multiple=True, metavar="OID", help="Adopt these organizations.")
@click.option("--from-files", is_flag=True, help="Adopt every record in the files not ledgered.")
@click.option("--write-yaml", is_flag=True, help="Write a file for adopted records that have none.")
@common
def import_(ws: Workspace, oids: tuple[str, ...], from_files: bool, write_yaml: bool) -> int:
    """Adopt records that already exist in the directory into the ledger. Sends no New."""
    if bool(oids) == from_files:
        raise PlanError("import needs either --oid OID (one or more) or --from-files")
    environ = dict(os.environ)
    desired = ws.desired
    with ledgers.lock(ws.lock_path, purpose="import"):
        current = ws.ledger()
        keys = oid_keys(oids) if oids else [k for k in desired if k not in current.records]

        async def run() -> list[Adoption]:
            async with session(ws, environ) as api:
                return await adopt(
                    api,
                    keys=keys,
                    desired=desired,
                    ledger=current,
                    env=ws.target,
                    source_id=environ.get("REDOX_SOURCE_ID") or None,
                    concurrency=ws.settings.file.api.concurrency,
                )

        adoptions = asyncio.run(run())
        missing = [a for a in adoptions if a.status == "absent" and oids]
        if missing:
            raise PlanError(
                "not in the directory, so nothing to import: "
                + ", ".join(a.identity for a in missing)
            )
        if write_yaml:
            adoptions = _write_files(ws, adoptions)
        ledgers.save(ws.ledger_path, record(current, adoptions, commit=git_commit(ws.repo)))
    for a in adoptions:
        line = {
            "adopted": f"adopted {a.key}" + (f" ({a.source})" if a.source else ""),
            "differs": f"adopted {a.key} as the directory holds it: the plan will update it",
            "absent": f"not in the directory: {a.key} (the plan will create it)",
            "ledgered": f"already in the ledger: {a.key}",
        }[a.status]
        click.echo(line)
        if a.status in {"adopted", "differs"} and a.source is None:
            click.echo(f"  no file holds {a.identity}: add one (or rerun with --write-yaml)")
    adopted = sum(1 for a in adoptions if a.status in {"adopted", "differs"})
    click.echo(
        f"Imported {adopted} record{'s' if adopted != 1 else ''} into the {ws.env_name} ledger. "
        "Fields a query cannot return (Endpoints, DestinationID) are taken as in the files."
    )
    return 0


def _write_files(ws: Workspace, adoptions: list[Adoption]) -> list[Adoption]:
    """Write an orgs/ file for each adopted record that has none. The repository must stay
    valid with them (a file alone can be valid and still name a parent no file holds): when it
    does not, the files are removed and nothing is imported."""
    folder = ws.repo / "orgs"
    folder.mkdir(exist_ok=True)
    taken = {p.name for p in folder.iterdir()}
    written: list[Adoption] = []
    paths: list[Path] = []
    for a in adoptions:
        if a.yaml is None:
            written.append(a)
            continue
        path = folder / file_name(str(a.yaml.get("name", "")), taken)
        text = yaml.safe_dump(a.yaml, sort_keys=False, allow_unicode=True, width=100)
        ledgers.atomic_write(path, text)
        paths.append(path)
        written.append(replace(a, source=path.relative_to(ws.repo).as_posix()))
    if paths:
        try:
            load_records(ws.repo, ws.target)
        except LoadError as exc:
            for path in paths:
                path.unlink(missing_ok=True)
            raise PlanError(
                "the directory's records would not make valid files, so nothing was imported:\n"
                + "".join(f"  {p}\n" for p in exc.problems)
                + "Where a part_of names a parent that no file holds, import the parent too "
                "(another --oid) or list it under external_parents in reconciler.yaml."
            ) from None
    return written
