"""reconciler.yaml (SPEC 1.3): every key defaulted, unknown keys rejected, built-in environments.

The per-environment destination keys are the kinds' own (`organization_destination`, ...):
each kind names its setting and the destinations Redox publishes for it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from reconciler.errors import Problem, SettingsError, quoted
from reconciler.formats import files, yamlfile
from reconciler.kinds import KINDS
from reconciler.kinds.fields import Oid, text_rule
from reconciler.model import Environment
from reconciler.notify.settings import NotifyEntry
from reconciler.policy.model import Level, Policy
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


# A policy's name is typed on the command line (--override-policy NAME) and read back from step
# outputs: a plain word.
POLICY_NAME = text_rule(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    "not a policy name: use letters, digits, '-', '_' and '.' (e.g. deactivation-sign-off)",
)
APPROVER = text_rule(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})|@[A-Za-z0-9][A-Za-z0-9-]{0,38}/"
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99})$",
    'not a GitHub login or team: write a login (alice) or "@org/team-slug" (quoted)',
)
PolicyName = Annotated[str, POLICY_NAME.field]
Approver = Annotated[str, APPROVER.field]


class PolicyEntry(_Strict):
    """One policy (SPEC 8): `deny` is CEL over change, env and plan; true is a violation."""

    name: PolicyName
    level: Literal["advisory", "soft", "hard"]
    deny: str = Field(min_length=1, max_length=10_000)
    message: str = Field(min_length=1, max_length=1_000)
    environments: list[EnvironmentName] | None = None
    approvers: list[Approver] = Field(default_factory=list)


class ApprovalEntry(_Strict):
    """What the sync requires of the merged pull request for one environment (SPEC 5)."""

    count: int = Field(1, ge=0, le=100)
    # Only these logins, or members of these "@org/team"s, count; empty: any reviewer.
    from_: list[Approver] = Field(default_factory=list, alias="from")


class EnvironmentEntry(_Strict):
    """One environment as written in reconciler.yaml: every key optional, merged over the
    built-in one. `file_model` adds each kind's destination key. Only keys written are merged,
    so `ledger: null` is refused rather than taken for the default."""

    ledger: InsidePath = ""
    audit: InsidePath = ""
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
    policies: list[PolicyEntry] = Field(default_factory=list)
    approvals: dict[EnvironmentName, ApprovalEntry] = Field(default_factory=dict)
    notify: list[NotifyEntry] = Field(default_factory=list)  # where events are posted (SPEC 5)
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
    SANDBOX: {
        "ledger": f"{SANDBOX_DIR}/ledger.json",
        "audit": f"{SANDBOX_DIR}/audit.jsonl",
        "protected": False,
    },
}


@dataclass(frozen=True)
class Settings:
    """The whole of reconciler.yaml with defaults applied and environments merged."""

    file: SettingsFile
    environments: dict[str, Environment]
    policies: tuple[Policy, ...] = ()  # in the file's order, each with the line of its `deny`
    lines: dict[str, int] = field(default_factory=dict)  # top-level key -> its line in the file

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
    _check_audit_paths(environments)
    problems = [
        *_policy_problems(parsed, set(environments), node),
        *_notify_problems(parsed.notify, environments, node),
    ]
    if problems:
        raise SettingsError(
            f"{SETTINGS_FILE} is invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    policies = tuple(
        _policy(entry, yamlfile.line_of(node, ("policies", i, "deny")) if node else 0)
        for i, entry in enumerate(parsed.policies)
    )
    lines = yamlfile.top_level_lines(node, set(type(parsed).model_fields))
    return Settings(file=parsed, environments=environments, policies=policies, lines=lines)


def _notify_problems(
    entries: list[NotifyEntry], environments: dict[str, Environment], node: Any
) -> list[Problem]:
    """Every environment a notify entry names must exist: a typo would silence it for good."""
    return [
        Problem(
            SETTINGS_FILE,
            yamlfile.line_of(node, ["notify", i, "environments", j]),
            f"notify[{i}].environments[{j}]: unknown environment {quoted(name)}: use one of "
            f"{', '.join(sorted(environments))}",
        )
        for i, entry in enumerate(entries)
        for j, name in enumerate(entry.environments or [])
        if name not in environments
    ]


def _policy(entry: PolicyEntry, line: int) -> Policy:
    return Policy(
        name=entry.name,
        level=Level(entry.level),
        deny=entry.deny,
        message=entry.message,
        environments=tuple(entry.environments) if entry.environments is not None else None,
        approvers=tuple(entry.approvers),
        line=line,
    )


def _policy_problems(file: SettingsFile, known: set[str], node: Any) -> list[Problem]:
    """What the models cannot see alone: a policy name used twice (`--override-policy NAME`
    must name one), approvers on a policy no one can override (a hard one never is, an advisory
    one needs no override: listing them would promise what the tool does not do), and an
    environment no one defined (a typo there would quietly switch a policy, or a sign-off,
    off)."""
    found: list[Problem] = []

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        found.append(Problem(SETTINGS_FILE, yamlfile.line_of(node, loc, key=True), message))

    names = ", ".join(sorted(known))
    seen: set[str] = set()
    for i, entry in enumerate(file.policies):
        if entry.name in seen:
            problem(
                ("policies", i, "name"),
                f"policies[{i}]: the name {quoted(entry.name)} is "
                "used by another policy: give each policy its own name",
            )
        seen.add(entry.name)
        if entry.approvers and entry.level != "soft":
            why = "can never be overridden" if entry.level == "hard" else "needs no override"
            problem(
                ("policies", i, "approvers"),
                f"policies[{i}] ({entry.name}): approvers "
                f"apply to soft policies only; a {entry.level} policy {why}. Remove "
                "approvers, or make the policy `level: soft`",
            )
        for j, env in enumerate(entry.environments or ()):
            if env not in known:
                problem(
                    ("policies", i, "environments", j),
                    f"policies[{i}] ({entry.name}): "
                    f"unknown environment {quoted(env)}: use one of {names}",
                )
    for env in file.approvals:
        if env not in known:
            problem(
                ("approvals", env),
                f"approvals: unknown environment {quoted(env)}: use one of {names}",
            )
    return sorted(found, key=lambda p: p.line)


def _check_audit_paths(environments: dict[str, Environment]) -> None:
    """Each environment keeps its own audit trail: a trail holds the lines of one environment,
    and only that environment's lock serialises the appends to it."""
    seen: dict[str, str] = {}
    for name, env in environments.items():
        path = PurePosixPath(env.audit.replace("\\", "/")).as_posix()
        if path in seen:
            raise SettingsError(
                f"{SETTINGS_FILE}: environments {seen[path]} and {name} both keep their audit "
                f"trail in {path}: give each its own (the default is audit/<name>.jsonl)"
            )
        seen[path] = name


def _environment(name: str, entry: EnvironmentEntry | None, file: SettingsFile) -> Environment:
    """Environment `name`: its entry in the file merged key by key over the built-in one."""
    merged: dict[str, Any] = {
        "ledger": f"ledger/{name}.json",
        "audit": f"audit/{name}.jsonl",
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
        audit=merged["audit"],
        protected=bool(merged["protected"]),
        destinations={kind.name: merged[kind.destination_setting] for kind in KINDS.values()},
        directory=file.directory,
        gateway_oids=frozenset({file.gateway_oid, SELF_RESPONDING_GATEWAY_OID}),
        external_parents=frozenset(file.external_parents),
        in_process=name == SANDBOX,
    )
