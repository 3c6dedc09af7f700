"""Who applies: the GitHub actor in a workflow, the git user (or the OS user) on a machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.audit.entry import Via
from reconciler.errors import cut
from reconciler.git.reader import config_value

MAX_ACTOR = 200  # characters: a name and an address, never a paragraph


@dataclass(frozen=True)
class Actor:
    """The `actor` and `via` of an audit entry."""

    name: str
    via: Via


def resolve_actor(environ: Mapping[str, str], repo: Path) -> Actor:
    """In a GitHub Actions run (GITHUB_ACTIONS=true), GITHUB_ACTOR: who pushed, merged or
    started the run by hand. Elsewhere the git user of `repo` (`Name <email>`), else the OS
    user. `environ` is the process environment, which the CLI reads."""
    if environ.get("GITHUB_ACTIONS") == "true":
        actor = environ.get("GITHUB_ACTOR", "").strip()
        return Actor(_short(actor or _local(environ, repo)), "github")
    return Actor(_short(_local(environ, repo)), "local")


def _local(environ: Mapping[str, str], repo: Path) -> str:
    name = config_value(repo, "user.name")
    email = config_value(repo, "user.email")
    if name and email:
        return f"{name} <{email}>"
    if name or email:
        return name or email or ""
    return _os_user(environ)


def _os_user(environ: Mapping[str, str]) -> str:
    for variable in ("LOGNAME", "USER", "USERNAME"):
        value = environ.get(variable, "").strip()
        if value:
            return value
    try:
        import pwd  # POSIX only: imported where it is used
    except ImportError:  # Windows: USERNAME is always set there
        return "unknown"
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _short(actor: str) -> str:
    text = " ".join(actor.split()) or "unknown"
    return cut(text, limit=MAX_ACTOR)
