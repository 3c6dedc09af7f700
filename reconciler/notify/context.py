"""Where an event happened: in a GitHub Actions run, the pull request and the link to the run,
read from the runner's variables. Outside a workflow, nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Set by the workflows' steps where the pull request is known but not in the event (a push to
# main: the sync's review check found it).
PULL_REQUEST_VARIABLE = "RECONCILER_PULL_REQUEST"


@dataclass(frozen=True)
class RunContext:
    """The run an event belongs to; every field empty outside GitHub Actions."""

    repository: str = ""
    server_url: str = "https://github.com"
    run_id: str = ""
    pull_request: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunContext:
        """The run, from GITHUB_* variables and the event payload (a pull request event's
        number), or RECONCILER_PULL_REQUEST. Never fails: a context is a courtesy."""
        if environ.get("GITHUB_ACTIONS") != "true":
            return cls()
        return cls(
            repository=environ.get("GITHUB_REPOSITORY", ""),
            server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            pull_request=_pull_request(environ),
        )

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def pull_url(self) -> str | None:
        if not (self.repository and self.pull_request):
            return None
        return f"{self.server_url}/{self.repository}/pull/{self.pull_request}"


def _pull_request(environ: Mapping[str, str]) -> int | None:
    given = environ.get(PULL_REQUEST_VARIABLE, "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    pull = event.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None
