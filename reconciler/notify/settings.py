"""A `notify` entry of reconciler.yaml (SPEC 5, Notifications): the environment variable that
holds the notification URL, the events it wants, and the environments they come from."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Event = Literal[
    "apply.applied",  # calls sent, none failed
    "apply.failed",  # a record failed, or the run was interrupted
    "apply.refused",  # digest, approval or policy: nothing was sent
    "apply.unverified",  # applied, but the directory does not show every change
    "drift.found",  # drift found differences
    "drift.resolved",  # the drift issue was closed: the directory matches again
]
EVENTS: tuple[Event, ...] = typing.get_args(Event)
# Where no `environments` are given: every one but the local sandbox, which is nobody's news.
UNNOTIFIED = frozenset({"sandbox"})

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _variable_name(value: str) -> str:
    # The value is never quoted back: someone may have written the URL itself here.
    if "://" in value or "@" in value:
        raise ValueError(
            "must name an environment variable (e.g. DIRECTORY_SLACK_URL), not hold the URL "
            "itself: a notification URL is a secret and must not be in git. Remove it from the "
            "file (and its history), revoke it, and give the new one as a secret"
        )
    if not _VARIABLE.fullmatch(value):
        raise ValueError(
            "must be an environment variable's name: letters, digits and _, not starting with "
            "a digit (e.g. DIRECTORY_SLACK_URL)"
        )
    return value


VariableName = Annotated[str, AfterValidator(_variable_name)]


class NotifyEntry(BaseModel):
    """Where one kind of news goes: `url_env` names the variable holding an apprise URL."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    url_env: VariableName
    events: list[Event] = Field(min_length=1)
    environments: list[str] | None = None  # None: every environment but the sandbox

    def wants(self, event: str, environment: str) -> bool:
        """Whether this entry is sent `event` when it happens in `environment`."""
        if event not in self.events:
            return False
        if self.environments is None:
            return environment not in UNNOTIFIED
        return environment in self.environments
