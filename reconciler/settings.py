"""reconciler.yaml (SPEC 1.3): every key defaulted, unknown keys rejected, built-in environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler import yamlfile
from reconciler.errors import Problem, SettingsError
from reconciler.model import Environment, Oid
from reconciler.validation import problems_from

SETTINGS_FILE = "reconciler.yaml"
SANDBOX = "sandbox"
GATEWAY_OID = "2.16.840.1.113883.3.6147.458.2"
SELF_RESPONDING_GATEWAY_OID = "2.16.840.1.113883.3.6147.458.3"
DEVELOPMENT_ORG_DESTINATION = "a07afe3b-d247-4415-827f-6837707e1b8b"
PRODUCTION_ORG_DESTINATION = "5d0fd248-6c52-4ad9-b907-ae10bf2dcc39"
# The in-process sandbox accepts this destination for provider requests.
SANDBOX_PROVIDER_DESTINATION = "3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13"
SANDBOX_DIR = ".reconciler/sandbox"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Safety(_Strict):
    max_deactivate_fraction: float = Field(0.3, ge=0, le=1)
    min_records_for_fraction: int = Field(10, ge=0)


class Api(_Strict):
    base_url: str = "https://api.redoxengine.com"
    rate_limit: float = Field(25.0, gt=0)
    concurrency: int = Field(8, ge=1, le=64)
    timeout: float = Field(60.0, gt=0)


class EnvironmentEntry(_Strict):
    """One environment as written in reconciler.yaml: every key optional, merged over built-ins."""

    organization_destination: str | None = None
    provider_destination: str | None = None
    ledger: str | None = None
    protected: bool | None = None


class EnvironmentSettings(_Strict):
    """One environment with every key resolved."""

    name: str
    organization_destination: str | None
    provider_destination: str | None
    ledger: str
    protected: bool

    @property
    def is_sandbox(self) -> bool:
        return self.name == SANDBOX


class SettingsFile(_Strict):
    directory: str = "Carequality"
    gateway_oid: Oid = GATEWAY_OID
    external_parents: list[Oid] = Field(default_factory=list)
    missing: Literal["error", "deactivate"] = "error"
    safety: Safety = Field(default_factory=Safety)
    api: Api = Field(default_factory=Api)
    environments: dict[str, EnvironmentEntry] = Field(default_factory=dict)


BUILT_IN: dict[str, dict[str, Any]] = {
    "development": {
        "organization_destination": DEVELOPMENT_ORG_DESTINATION,
        "ledger": "ledger/development.json",
        "protected": False,
    },
    "production": {
        "organization_destination": PRODUCTION_ORG_DESTINATION,
        "ledger": "ledger/production.json",
        "protected": True,
    },
    SANDBOX: {
        "organization_destination": DEVELOPMENT_ORG_DESTINATION,
        "provider_destination": SANDBOX_PROVIDER_DESTINATION,
        "ledger": f"{SANDBOX_DIR}/ledger.json",
        "protected": False,
    },
}


class Settings(_Strict):
    """The whole of reconciler.yaml with defaults applied and environments merged."""

    file: SettingsFile
    environments: dict[str, EnvironmentSettings]

    def environment(self, name: str) -> EnvironmentSettings:
        """The named environment, or a SettingsError listing the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise SettingsError(
                f"unknown environment {name!r}: use one of {known}, or add it under "
                f"environments: in {SETTINGS_FILE}"
            ) from None

    def target(self, name: str) -> Environment:
        """What the record kinds need of environment `name`."""
        env = self.environment(name)
        return Environment(
            name=env.name,
            organization_destination=env.organization_destination,
            provider_destination=env.provider_destination,
            directory=self.file.directory,
            gateway_oids=frozenset({self.file.gateway_oid, SELF_RESPONDING_GATEWAY_OID}),
            external_parents=frozenset(self.file.external_parents),
        )


def load_settings(repo: Path) -> Settings:
    """reconciler.yaml of `repo` (optional), merged over the built-in defaults."""
    path = repo / SETTINGS_FILE
    data: Any = {}
    node = None
    if path.exists():
        try:
            data, node = yamlfile.read(path, SETTINGS_FILE)
        except yamlfile.YamlProblem as exc:
            raise SettingsError(str(yamlfile.problem(SETTINGS_FILE, exc))) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SettingsError(
                f"{SETTINGS_FILE}, line 1: the file must hold a mapping of settings"
            )
    try:
        parsed = SettingsFile.model_validate(data)
    except ValidationError as exc:
        problems: list[Problem] = sorted(
            problems_from(exc, SETTINGS_FILE, node, model=SettingsFile), key=lambda p: p.line
        )
        raise SettingsError(
            f"{SETTINGS_FILE} is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        ) from None
    environments: dict[str, EnvironmentSettings] = {}
    for name in sorted(set(BUILT_IN) | set(parsed.environments)):
        merged: dict[str, Any] = {
            "organization_destination": None,
            "provider_destination": None,
            "ledger": f"ledger/{name}.json",
            "protected": False,
            **BUILT_IN.get(name, {}),
        }
        entry = parsed.environments.get(name)
        if entry is not None:
            merged.update(entry.model_dump(exclude_unset=True))
        environments[name] = EnvironmentSettings(name=name, **merged)
    return Settings(file=parsed, environments=environments)
