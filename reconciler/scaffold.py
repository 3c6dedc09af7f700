"""`reconciler init`: the files of a new records repository, from templates shipped in the
package (the project's own workflows are made from the same templates)."""

from __future__ import annotations

from importlib.resources import files

# Path in the new repository -> template in reconciler/templates/ (dot-files are stored
# without their dot: a packaging tool may drop hidden files).
FILES = {
    "reconciler.yaml": "reconciler.yaml",
    "orgs/example-clinic.yaml": "orgs/example-clinic.yaml",
    ".gitignore": "gitignore",
    ".pre-commit-config.yaml": "pre-commit-config.yaml",
}
VERSION_MARK = "@VERSION@"


def template(name: str) -> str:
    """The text of one template."""
    return (files("reconciler") / "templates" / name).read_text(encoding="utf-8")


def scaffold(version: str) -> dict[str, str]:
    """Every file of a new records repository for this version of the tool: path -> text."""
    return {path: template(name).replace(VERSION_MARK, version) for path, name in FILES.items()}
