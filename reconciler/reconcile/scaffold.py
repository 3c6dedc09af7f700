"""Starting a records repository: `reconciler init`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.formats.atomic import atomic_write

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Written:
    """One file `init` wrote (`replaced`: it was there before, and --force replaced it)."""

    path: str
    replaced: bool


def init_repository(target: Path, *, version: str, force: bool = False) -> list[Written]:
    """Write a new records repository's files into `target`: settings, an example record,
    .gitignore, the workflows and the pre-commit configuration. Without `force`, refuses
    before writing anything when one of them exists."""
    from reconciler.records.scaffold import scaffold

    wanted = scaffold(version)
    present = sorted(path for path in wanted if (target / path).exists())
    if present and not force:
        raise ReconcilerError(
            f"{target} already has {', '.join(present)}: nothing was written. Run "
            "`reconciler init --force` to replace them with the templates."
        )
    written = []
    for path, text in wanted.items():
        destination = target / path
        if destination.exists() and not destination.is_file():
            raise ReconcilerError(f"{destination} is not a file: move it away and run init again")
        replaced = destination.exists()
        atomic_write(destination, text)
        written.append(Written(path, replaced))
    return written
