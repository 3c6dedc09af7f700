"""`reconciler init`: the files of a new records repository, from templates shipped in the
package. The project's own workflows are made from the same templates (`python -m
reconciler.records.scaffold` writes them; a test checks they are current), so the two never
drift apart.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

WORKFLOWS = ("plan", "sync", "sync-environment", "drift")
LOCK = "requirements.txt"  # the runtime dependencies with their hashes, in templates/
RECORDS_LOCK = ".github/reconciler-requirements.txt"  # where a records repository keeps it

# Path in the new repository -> template in reconciler/templates/ (dot-files are stored
# without their dot: a packaging tool may drop hidden files).
FILES = {
    "reconciler.yaml": "reconciler.yaml",
    "orgs/example-clinic.yaml": "orgs/example-clinic.yaml",
    ".gitignore": "gitignore",
    ".pre-commit-config.yaml": "pre-commit-config.yaml",
    RECORDS_LOCK: LOCK,
    **{f".github/workflows/{name}.yml": f"workflows/{name}.yml" for name in WORKFLOWS},
}


@dataclass(frozen=True)
class Install:
    """How a workflow installs the reconciler: the dependencies from `lock` (a path in the
    repository), then `package` without its dependencies."""

    lock: str
    package: str


# The project's own repository installs its checkout; a records repository this exact release.
PROJECT = Install(lock=f"reconciler/templates/{LOCK}", package=".")


def released(version: str) -> Install:
    """The install of a records repository: this release of the tool, from PyPI."""
    return Install(
        lock=".github/reconciler-requirements.txt", package=f"redox-reconciler=={version}"
    )


def template(name: str) -> str:
    """The text of one template."""
    return (files("reconciler") / "templates" / name).read_text(encoding="utf-8")


def render(name: str, *, version: str, install: Install) -> str:
    """One template with its marks filled in."""
    return (
        template(name)
        .replace("@VERSION@", version)
        .replace("@LOCK@", install.lock)
        .replace("@PACKAGE@", install.package)
    )


def scaffold(version: str) -> dict[str, str]:
    """Every file of a new records repository for this version of the tool: path -> text."""
    install = released(version)
    return {path: render(name, version=version, install=install) for path, name in FILES.items()}


def project_workflows() -> dict[str, str]:
    """The project's own workflows: path in the repository -> text."""
    return {
        f".github/workflows/{name}.yml": render(
            f"workflows/{name}.yml", version="", install=PROJECT
        )
        for name in WORKFLOWS
    }


def main() -> None:
    """Write the project's workflows from the templates (run from the repository's root)."""
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for path, text in project_workflows().items():
        (root / path).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
