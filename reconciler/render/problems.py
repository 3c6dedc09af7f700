"""Problems of the input files: lines for a terminal, GitHub annotations, `validate`'s JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.errors import Problem


def render_problems(problems: Sequence[Problem]) -> str:
    """`file:line: error: message` lines and a closing count, for a terminal."""
    lines = [
        f"{p.file}:{p.line}: {p.severity}: {p.message}" if p.line else f"{p.file}: {p.message}"
        for p in problems
    ]
    errors = sum(1 for p in problems if p.severity == "error")
    files = len({p.file for p in problems if p.severity == "error"})
    if errors:
        lines.append(
            f"{errors} problem{'s' if errors != 1 else ''} in {files} "
            f"file{'s' if files != 1 else ''}: nothing was planned or applied."
        )
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Sequence[Problem]) -> str:
    """GitHub workflow commands: `::error file=…,line=…,title=…::message`, one per problem."""
    lines = []
    for p in problems:
        props = [f"file={_escape_property(p.file)}"]
        if p.line:
            props.append(f"line={p.line}")
        title = "reconciler " + ("validation error" if p.severity == "error" else "warning")
        props.append(f"title={_escape_property(title)}")
        lines.append(f"::{p.severity} {','.join(props)}::{_escape_data(p.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def problems_document(problems: Sequence[Problem], records: int) -> dict[str, Any]:
    """`validate --format json`."""
    return {
        "valid": not any(p.severity == "error" for p in problems),
        "records": records,
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "severity": p.severity,
                "message": p.message,
                "subject": p.subject,
            }
            for p in problems
        ],
    }
