"""Records the directory holds before the first apply, as if created elsewhere (by hand, by
another tool, or another organization's): `sandbox serve --preload FILE`, or
`Sandbox(preload=...)` in-process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ReconcilerError
from reconciler.formats import files, jsonfile
from reconciler.kinds.organization import OrganizationKind
from reconciler.kinds.provider import ProviderKind


@dataclass(frozen=True)
class Preload:
    """Records the directory holds before the first apply, as if created elsewhere (wire form;
    an organization may carry the `ManagingOrg` a query shows of it)."""

    organizations: tuple[dict[str, Any], ...] = ()
    providers: tuple[dict[str, Any], ...] = ()


class PreloadFile(BaseModel):
    """A preload file (`sandbox serve --preload FILE`): {"organizations": [...], "providers":
    [...]}, each record in Redox's wire form."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    organizations: list[dict[str, Any]] = Field(default_factory=list)
    providers: list[dict[str, Any]] = Field(default_factory=list)


def read_preload(path: Path) -> Preload:
    """The records of a preload file; ReconcilerError naming the file, the record and the fix."""
    try:
        raw = files.read_bytes(path, root=path.parent.resolve(), limit=files.MAX_DOCUMENT_BYTES)
        parsed = PreloadFile.model_validate(jsonfile.loads(raw))
    except (OSError, files.Unreadable) as exc:
        raise ReconcilerError(f"cannot read the preload file {path}: {exc}") from None
    except jsonfile.JsonProblem as exc:
        raise ReconcilerError(f"the preload file {path} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        problem = jsonfile.first_error(exc)
        where = f" at {problem.where}" if problem.where else ""
        raise ReconcilerError(
            f"the preload file {path} is invalid{where}: {problem.message}. Write "
            '{"organizations": [...], "providers": [...]}, each record in Redox\'s wire form'
        ) from None
    for section, records, identity in (
        ("organizations", parsed.organizations, OrganizationKind().wire_identity),
        ("providers", parsed.providers, ProviderKind().wire_identity),
    ):
        for number, record in enumerate(records):
            if identity(record) is None:
                what = "an Identifiers[] entry with IDType OID" if section[0] == "o" else "an ID"
                raise ReconcilerError(
                    f"the preload file {path}, {section}[{number}], has no identity: give it {what}"
                )
    return Preload(tuple(parsed.organizations), tuple(parsed.providers))
