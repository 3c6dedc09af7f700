"""The workflows install the tool's dependencies from a lock with hashes: it must pin every
runtime dependency pyproject.toml declares (and those of the `notify` extra, which the
workflows use too), at a version that satisfies it, with hashes. And the README says why each
one is there, and why deepdiff is not."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "reconciler" / "templates" / "requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)")


def pins() -> dict[str, str]:
    """Name -> pinned version, for every requirement of the lock."""
    found: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def test_every_dependency_is_pinned_at_a_version_it_allows() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    locked = pins()
    project = declared["project"]
    for text in [*project["dependencies"], *project["optional-dependencies"]["notify"]]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {LOCK.name}: refresh it (README, Development)"
        assert requirement.specifier.contains(locked[name]), (name, locked[name])


def test_every_pin_carries_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8"))
    pinned = [e for e in entries if _PIN.match(e)]
    assert len(pinned) == len(pins()) > 10
    assert [e.split()[0] for e in pinned if "--hash=sha256:" not in e] == []


def readme_dependencies() -> str:
    """The README's "Dependencies" subsection of "Development"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    development = readme.split("\n## Development\n", 1)[1].split("\n## ", 1)[0]
    assert "\n### Dependencies\n" in development, "README: no Dependencies under Development"
    return development.split("\n### Dependencies\n", 1)[1].split("\n### ", 1)[0]


def test_the_readme_says_why_each_runtime_dependency_is_there() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    named = {
        canonicalize_name(bold.split("[")[0])
        for bold in re.findall(r"\*\*([A-Za-z0-9_.\[\]-]+)\*\*", readme_dependencies())
    }
    wanted = {
        canonicalize_name(Requirement(text).name) for text in declared["project"]["dependencies"]
    }
    assert sorted(wanted - named) == []


def test_the_readme_says_why_deepdiff_is_not_with_a_measured_figure() -> None:
    text = " ".join(readme_dependencies().split())
    assert "**Why not deepdiff.**" in text
    assert '`python -X importtime -c "import deepdiff"`' in text
    assert re.search(r"deepdiff \d+(\.\d+)+ on Python 3\.\d+", text), "which deepdiff, which Python"
    assert re.search(r"\d+ ms", text), "no figure"
    assert "reconsider" in text.lower()
