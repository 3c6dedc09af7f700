"""The secrets of this run, replaced by `***` in everything printed, logged or written.

As GitHub Actions masks secrets in a job's log: each secret is registered where it is made (the
private key when it is read, every client assertion when it is signed, every access token when
it arrives), and the CLI's output streams, the log handlers and every file the tool writes pass
their text through `redact`. A server that echoes the request in an error reply (a misbehaving
proxy, a debug page) then shows `Bearer ***`, never the token.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

MASK = "***"
MIN_LENGTH = 8  # shorter text is no secret worth masking, and would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in text: as is, JSON-escaped, URL-encoded (a form body),
    with its newlines escaped (a PEM in an environment variable)."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        secret.replace("\n", "\\n"),
        secret.replace("\n", "\\\\n"),
    }


def register(secret: str | None) -> None:
    """Mask `secret` (and its escaped forms) from now on, for the rest of the process."""
    global _pattern
    if not secret or len(secret.strip()) < MIN_LENGTH:
        return
    with _lock:
        new = {form for form in _forms(secret) if len(form) >= MIN_LENGTH} - _secrets
        if not new:
            return
        _secrets.update(new)
        # Longest first, so that a secret containing another is masked whole.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def register_pem(pem: str) -> None:
    """Mask a PEM private key: the whole text, and each line of its body on its own (an error
    may quote one line), and the body joined (a server may strip the newlines)."""
    register(pem)
    register(pem.strip())
    body = [
        line.strip()
        for line in pem.replace("\\n", "\n").splitlines()
        if line.strip() and not line.startswith("-----")
    ]
    for line in body:
        register(line)
    register("".join(body))


# Headers whose value is a credential whoever sent it: masked in what is recorded even when
# the secret was never registered (a token this process did not issue or receive).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` as they may be recorded: the credential of Authorization and
    Proxy-Authorization replaced by *** (its scheme kept: `Bearer ***`)."""
    masked = {}
    for name, value in headers.items():
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, credential = value.strip().partition(" ")
            value = f"{scheme} {MASK}" if credential else MASK
        masked[name] = value
    return masked


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_all(pieces: Iterable[str]) -> Iterator[str]:
    """Each piece of a text written in pieces, redacted (a secret never spans two pieces of
    the JSON the tool writes: each is one or more whole values)."""
    for piece in pieces:
        yield redact(piece)


def active() -> bool:
    """Whether any secret is registered (nothing to mask otherwise)."""
    return _pattern is not None


class RedactingFilter(logging.Filter):
    """Masks the secrets in a log record's message and in its exception's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def filter_root_handlers() -> None:
    """Put a RedactingFilter on each handler of the root logger (a filter on the logger itself
    would not see the records that propagate to it from the library's loggers)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class RedactingStream:
    """A text stream whose writes are redacted; everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        self._stream.writelines(redact_all(lines))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
