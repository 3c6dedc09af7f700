"""One repository and one environment: its settings, its record files and its ledger."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from reconciler.kinds import KINDS
from reconciler.ledger.model import Ledger
from reconciler.ledger.store import LedgerStore
from reconciler.model import Desired, Environment, Key
from reconciler.records.loader import Records, load_records
from reconciler.records.parse_cache import PlanCache
from reconciler.records.settings import SANDBOX_DIR, Settings, load_settings

LOCAL_DIR = ".reconciler"


@dataclass
class Workspace:
    """What every command needs: read once, in the order the command asks for it."""

    repo: Path
    env_name: str
    cache: bool = True  # read and keep validated record files in .reconciler/cache/

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.repo)

    @cached_property
    def environment(self) -> Environment:
        """The environment the command works on, resolved from reconciler.yaml."""
        return self.settings.environment(self.env_name)

    @cached_property
    def ledger_store(self) -> LedgerStore:
        """The environment's ledger on disk: its file, journal and lock."""
        return LedgerStore(
            path=self.repo / self.environment.ledger,
            environment=self.env_name,
            shown=self.environment.ledger,
            root=self.repo.resolve(),
            local=self.repo / LOCAL_DIR,
        )

    @property
    def sandbox_dir(self) -> Path:
        return self.repo / SANDBOX_DIR

    @cached_property
    def records(self) -> Records:
        """Every record file, validated; LoadError with every problem otherwise."""
        cache = None
        if self.cache:
            settings, kinds = self.settings.file, KINDS.values()
            cache = PlanCache.of(self.repo, self.environment, settings, kinds)
        return load_records(
            self.repo,
            self.environment,
            max_file_bytes=self.settings.file.max_file_bytes,
            cache=cache,
        )

    @property
    def desired(self) -> dict[Key, Desired]:
        return self.records.desired

    def ledger(self) -> Ledger:
        """The ledger as it is on disk now, with what an unfinished apply journaled (read again
        on every call)."""
        return self.ledger_store.read()
