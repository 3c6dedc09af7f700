"""The workflows install the tool's dependencies from a lock with hashes: it must pin every
runtime dependency pyproject.toml declares (and those of the `notify` extra, which the
workflows use too), at a version that satisfies it, with hashes."""

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
