"""One repository and one environment: the settings, files, desired state and ledger together."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from reconciler import ledger as ledgers
from reconciler.loader import Records, desired_digest, load_records
from reconciler.model import Desired, Environment, Key
from reconciler.plan import Plan, build_plan
from reconciler.settings import SANDBOX_DIR, EnvironmentSettings, Settings, load_settings

LOCAL_DIR = ".reconciler"


@dataclass
class Workspace:
    """What every command needs: read once, in the order the command asks for it."""

    repo: Path
    env_name: str

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.repo)

    @cached_property
    def env(self) -> EnvironmentSettings:
        return self.settings.environment(self.env_name)

    @cached_property
    def target(self) -> Environment:
        return self.settings.target(self.env_name)

    @property
    def ledger_path(self) -> Path:
        return self.repo / self.env.ledger

    @property
    def lock_path(self) -> Path:
        return self.repo / LOCAL_DIR / "locks" / f"{self.env_name}.lock"

    @property
    def sandbox_dir(self) -> Path:
        return self.repo / SANDBOX_DIR

    @cached_property
    def records(self) -> Records:
        return load_records(self.repo, self.target)

    @property
    def desired(self) -> dict[Key, Desired]:
        return self.records.desired

    def ledger(self) -> ledgers.Ledger:
        """The ledger as it is on disk now (read again on every call)."""
        return ledgers.load(self.ledger_path, self.env_name, shown=self.env.ledger)

    def plan(self, ledger: ledgers.Ledger | None = None, *, refreshed: bool = False) -> Plan:
        """A fresh plan of the files against `ledger` (default: the ledger on disk)."""
        file = self.settings.file
        plan = build_plan(
            self.desired,
            ledger if ledger is not None else self.ledger(),
            desired_digest=desired_digest(self.desired),
            missing=file.missing,
            max_deactivate_fraction=file.safety.max_deactivate_fraction,
            min_records_for_fraction=file.safety.min_records_for_fraction,
            refreshed=refreshed,
        )
        warnings = tuple(str(w) for w in self.records.warnings)
        return replace(plan, warnings=warnings)
