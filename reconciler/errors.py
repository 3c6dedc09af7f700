"""One root exception; every failure a user can see is a ReconcilerError."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

QUOTE_LIMIT = 80  # characters of an input value that an error message shows
MESSAGE_LIMIT = 1000  # characters of one problem's message

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT
_REPR.maxlevel = 3


def cut(text: str, *, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def quoted(value: Any, *, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` of at most about `limit` characters: an error message never prints an
    input back in bulk (a value of a megabyte, a deep structure, a number of 5,000 digits)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<a number of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # beyond Python's digit limit, or nested too deep
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


class ReconcilerError(Exception):
    """Root of every error the reconciler reports to a user (never a traceback)."""


@dataclass(frozen=True)
class Problem:
    """One problem in one input file, with the line it is on (1-based; 0 when unknown)."""

    file: str
    line: int
    message: str
    subject: str = ""
    severity: str = "error"

    def __post_init__(self) -> None:
        # A net under the quoting of values: no problem prints an input back in bulk.
        if len(self.message) > MESSAGE_LIMIT:
            object.__setattr__(self, "message", cut(self.message, limit=MESSAGE_LIMIT))
        if len(self.subject) > QUOTE_LIMIT:
            object.__setattr__(self, "subject", cut(self.subject))

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class LoadError(ReconcilerError):
    """Invalid input files; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the input files")


class SettingsError(ReconcilerError):
    """reconciler.yaml is invalid or names an unknown environment."""


class LedgerError(ReconcilerError):
    """The ledger is unreadable, of an unknown version, or locked by another apply."""


class AuditError(ReconcilerError):
    """The audit trail cannot be read, verified or appended to."""


class LockHeld(LedgerError):
    """Another apply holds the ledger's lock."""


class PlanError(ReconcilerError):
    """The desired state cannot be planned against the ledger (e.g. a record's file is gone)."""


class UnsafePlan(PlanError):
    """The plan deactivates more than the safety fraction allows without --force."""


class StalePlan(ReconcilerError):
    """A saved plan no longer matches the ledger it was made against."""


class PlanChanged(PlanError):
    """The plan about to be applied is not the one that was reviewed (`--expect-digest`)."""


class RedoxError(ReconcilerError):
    """Redox (or the network on the way to it) refused or failed a request. `log_id` and
    `attempt_id` are the answer's Meta.Logs[0] (what Redox support asks for), when Redox
    answered; `earlier_unknown`: an earlier attempt of the same request went unanswered (a
    timeout, a dropped connection, a 5xx), so it may have landed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        log_id: str | None = None,
        attempt_id: str | None = None,
        earlier_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.log_id = log_id
        self.attempt_id = attempt_id
        self.earlier_unknown = earlier_unknown


class AuthError(RedoxError):
    """Credentials are missing or were refused."""


class Throttled(RedoxError):
    """Redox kept answering 429 (too many requests) until the retries ran out."""


class Refused(RedoxError):
    """Redox answered and refused the request (Meta.Errors, or a 4xx/5xx status): resending the
    same request cannot succeed."""


class AlreadyExists(Refused):
    """A New for an identity the directory already holds (`[OID] already exists.`)."""


class NotFound(Refused):
    """An Update of an identity the directory does not hold (`id: [ID] is not valid.`)."""


class WrongDestination(Refused):
    """Meta.Destinations names no destination of the API key's subscriptions."""


class PolicyRefused(PlanError):
    """Policies refuse the plan: a hard violation, or a soft one not overridden. Raised before
    any call; `blocking` holds the policy results that refuse it (PolicyResult), `results`
    every result, so that the audit trail can record the refusal."""

    def __init__(
        self, message: str, *, blocking: tuple[Any, ...], results: tuple[Any, ...]
    ) -> None:
        super().__init__(message)
        self.blocking = blocking
        self.results = results
