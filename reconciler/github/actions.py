"""The GitHub Actions run a command is in: the repository, the event, the token, and the files
a step writes its outputs and job summary to."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.errors import ReconcilerError
from reconciler.formats.redact import redact, register
from reconciler.github.client import DEFAULT_API_URL, GitHub


@dataclass(frozen=True)
class Actions:
    """What a workflow step knows of its run (the runner's GITHUB_* variables)."""

    repository: str
    token: str | None = field(default=None, repr=False)
    # Reads the organization's team memberships (`approvals` naming "@org/team"): the
    # workflow's own token cannot. Defaults to `token`.
    members_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    server_url: str = "https://github.com"
    run_id: str = ""
    actor: str = ""
    event_name: str = ""
    event: Mapping[str, Any] = field(default_factory=dict)
    summary_path: Path | None = None
    output_path: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Actions:
        """The run, from the variables the runner sets (GITHUB_TOKEN from the step's env)."""
        repository = environ.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise ReconcilerError(
                "GITHUB_REPOSITORY is not set: `reconciler github` runs in a GitHub Actions step"
            )
        event: Mapping[str, Any] = {}
        event_path = environ.get("GITHUB_EVENT_PATH")
        if event_path:
            try:
                event = json.loads(Path(event_path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ReconcilerError(f"cannot read the event {event_path}: {exc}") from None

        def path(name: str) -> Path | None:
            value = environ.get(name)
            return Path(value) if value else None

        token = environ.get("GITHUB_TOKEN") or None
        members_token = environ.get("GITHUB_MEMBERS_TOKEN") or None
        for secret in (token, members_token):
            register(secret)
        return cls(
            repository=repository,
            token=token,
            members_token=members_token,
            api_url=environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
            server_url=environ.get("GITHUB_SERVER_URL") or "https://github.com",
            run_id=environ.get("GITHUB_RUN_ID", ""),
            actor=environ.get("GITHUB_ACTOR", ""),
            event_name=environ.get("GITHUB_EVENT_NAME", ""),
            event=event,
            summary_path=path("GITHUB_STEP_SUMMARY"),
            output_path=path("GITHUB_OUTPUT"),
        )

    @property
    def run_url(self) -> str:
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def client(self, transport: httpx.BaseTransport | None = None) -> GitHub:
        """A client of this repository's API with the step's token."""
        return GitHub(
            repository=self.repository,
            token=self.token,
            api_url=self.api_url,
            transport=transport,
        )

    def members_client(self, transport: httpx.BaseTransport | None = None) -> GitHub:
        """A client for the organization's team memberships: GITHUB_MEMBERS_TOKEN, else the
        step's token."""
        return GitHub(
            repository=self.repository,
            token=self.members_token or self.token,
            api_url=self.api_url,
            transport=transport,
        )

    def add_summary(self, markdown: str) -> None:
        """Append to the job summary (nothing outside a runner)."""
        if self.summary_path is not None and markdown:
            with self.summary_path.open("a", encoding="utf-8") as handle:
                text = markdown if markdown.endswith("\n") else markdown + "\n"
                handle.write(redact(text))

    def set_outputs(self, **values: str) -> None:
        """Set the step's outputs (multi-line values in the runner's delimiter form)."""
        if self.output_path is None:
            return
        with self.output_path.open("a", encoding="utf-8") as handle:
            for name, raw in values.items():
                value = redact(raw)
                if "\n" in value:
                    delimiter = f"ghadelimiter_{uuid.uuid4()}"
                    handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
                else:
                    handle.write(f"{name}={value}\n")

    # -- the pull request event --------------------------------------------------------------

    @property
    def pull_request(self) -> Mapping[str, Any]:
        found = self.event.get("pull_request")
        return found if isinstance(found, Mapping) else {}

    @property
    def from_fork(self) -> bool:
        """A pull request whose head is another repository: its token is read-only."""
        head_repo = (self.pull_request.get("head") or {}).get("repo") or {}
        return head_repo.get("full_name") != self.repository
