"""reconciler.yaml (SPEC 1.3): every key defaulted, unknown keys rejected, built-in environments.

The per-environment destination keys are the kinds' own (`organization_destination`, ...):
each kind names its setting and the destinations Redox publishes for it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from reconciler.errors import Problem, SettingsError, quoted
from reconciler.formats import files, yamlfile
from reconciler.kinds import KINDS
from reconciler.kinds.fields import Oid
from reconciler.model import Environment
from reconciler.records.validation import problems_from
from reconciler.redox.api import GATEWAY_OID, SELF_RESPONDING_GATEWAY_OID

SETTINGS_FILE = "reconciler.yaml"
SANDBOX = "sandbox"
SANDBOX_DIR = ".reconciler/sandbox"


class _Strict(BaseModel):
    # defer_build: file_model's subclasses are what validates; the bases need no validator.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Safety(_Strict):
    max_deactivate_fraction: float = Field(0.3, ge=0, le=1)
    min_records_for_fraction: int = Field(10, ge=0)


class Api(_Strict):
    base_url: str = "https://api.redoxengine.com"
    rate_limit: float = Field(25.0, gt=0)
    concurrency: int = Field(8, ge=1, le=64)
    timeout: float = Field(60.0, gt=0)


class Drift(_Strict):
    """What drift checks per run, and how much of the API budget lookups may use (SPEC 2,
    "Drift cost")."""

    rotate: int = Field(1, ge=1, le=366)  # check 1/rotate of the records per run
    rate_share: float = Field(0.5, gt=0, le=1)  # of api.rate_limit: drift, --refresh, import


class Verify(_Strict):
    """Whether apply reads back what it changed, and how long a change may take to become
    visible in the directory (SPEC 2, "Verification")."""

    enabled: bool = True
    timeout: float = Field(120.0, gt=0, le=3600)


def _inside_path(value: str) -> str:
    """A path relative to the repository that stays inside it (the ledger's file)."""
    if not value:
        raise ValueError("must not be empty: leave the key out for the default")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{quoted(value)} holds a control character: write a plain path")
    parts = PurePosixPath(value.replace("\\", "/")).parts
    if value.startswith(("/", "\\")) or PureWindowsPath(value).drive or ".." in parts:
        raise ValueError(
            f"{quoted(value)} is not a path inside the repository: write it relative to the "
            "repository, without '..' (e.g. ledger/staging.json)"
        )
    return value


InsidePath = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_inside_path)]
# Environment names become file names (ledger/<name>.json, the lock) and appear in messages.
EnvironmentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class EnvironmentEntry(_Strict):
    """One environment as written in reconciler.yaml: every key optional, merged over the
    built-in one. `file_model` adds each kind's destination key. Only keys written are merged,
    so `ledger: null` is refused rather than taken for the default."""

    ledger: InsidePath = ""
    protected: bool | None = None


class SettingsFile(_Strict):
    """reconciler.yaml as written, defaults applied."""

    directory: str = "Carequality"
    gateway_oid: Oid = GATEWAY_OID
    external_parents: list[Oid] = Field(default_factory=list)
    # Your ManagingOrg as the directory shows it: a record another organization manages is never
    # overwritten or imported (SPEC 2, ownership).
    managing_org: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    missing: Literal["error", "deactivate"] = "error"
    safety: Safety = Field(default_factory=Safety)
    api: Api = Field(default_factory=Api)
    drift: Drift = Field(default_factory=Drift)
    verify: Verify = Field(default_factory=Verify)
    environments: dict[EnvironmentName, EnvironmentEntry] = Field(default_factory=dict)
    # The most bytes of one record file or of reconciler.yaml, checked before it is read.
    max_file_bytes: int = Field(files.MAX_FILE_BYTES, ge=1024, le=1024**3)


@cache
def file_model(destination_settings: frozenset[str]) -> type[SettingsFile]:
    """SettingsFile whose environment entries also take these destination keys."""
    destinations: dict[str, Any] = {
        name: (str | None, None) for name in sorted(destination_settings)
    }
    entry = create_model("EnvironmentEntry", __base__=EnvironmentEntry, **destinations)
    environments: Any = (dict[EnvironmentName, entry], Field(default_factory=dict))
    return create_model("SettingsFile", __base__=SettingsFile, environments=environments)


BUILT_IN: dict[str, dict[str, Any]] = {
    "development": {"ledger": "ledger/development.json", "protected": False},
    "production": {"ledger": "ledger/production.json", "protected": True},
    SANDBOX: {"ledger": f"{SANDBOX_DIR}/ledger.json", "protected": False},
}


@dataclass(frozen=True)
class Settings:
    """The whole of reconciler.yaml with defaults applied and environments merged."""

    file: SettingsFile
    environments: dict[str, Environment]

    def environment(self, name: str) -> Environment:
        """The named environment, or a SettingsError listing the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise SettingsError(
                f"unknown environment {quoted(name)}: use one of {known}, or add it under "
                f"environments: in {SETTINGS_FILE}"
            ) from None


def load_settings(repo: Path) -> Settings:
    """reconciler.yaml of `repo` (optional), merged over the built-in defaults."""
    path = repo / SETTINGS_FILE
    data: Any = {}
    node = None
    if os.path.lexists(path):
        try:
            data, node = yamlfile.read(path, SETTINGS_FILE, root=repo.resolve())
        except yamlfile.YamlProblem as exc:
            raise SettingsError(str(yamlfile.problem(SETTINGS_FILE, exc))) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SettingsError(
                f"{SETTINGS_FILE}, line 1: the file must hold a mapping of settings"
            )
    model = file_model(frozenset(kind.destination_setting for kind in KINDS.values()))
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems: list[Problem] = sorted(
            problems_from(exc, SETTINGS_FILE, node, model=model), key=lambda p: p.line
        )
        raise SettingsError(
            f"{SETTINGS_FILE} is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        ) from None
    environments = {
        name: _environment(name, parsed.environments.get(name), parsed)
        for name in sorted(set(BUILT_IN) | set(parsed.environments))
    }
    return Settings(file=parsed, environments=environments)


def _environment(name: str, entry: EnvironmentEntry | None, file: SettingsFile) -> Environment:
    """Environment `name`: its entry in the file merged key by key over the built-in one."""
    merged: dict[str, Any] = {
        "ledger": f"ledger/{name}.json",
        "protected": False,
        **BUILT_IN.get(name, {}),
    }
    for kind in KINDS.values():
        merged[kind.destination_setting] = kind.built_in_destinations.get(name)
    if entry is not None:
        merged.update(entry.model_dump(exclude_unset=True))
    return Environment(
        name=name,
        ledger=merged["ledger"],
        protected=bool(merged["protected"]),
        destinations={kind.name: merged[kind.destination_setting] for kind in KINDS.values()},
        directory=file.directory,
        gateway_oids=frozenset({file.gateway_oid, SELF_RESPONDING_GATEWAY_OID}),
        external_parents=frozenset(file.external_parents),
        in_process=name == SANDBOX,
    )
