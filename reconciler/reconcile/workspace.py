"""One repository and one environment: its settings, its record files and its ledger."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.kinds import KINDS
from reconciler.model import Desired, Environment, Key
from reconciler.records.loader import Records, load_records
from reconciler.records.settings import SANDBOX_DIR, SETTINGS_FILE, Settings, load_settings
from reconciler.records.stat_index import StatIndex
from reconciler.records.walk import Fingerprint

if TYPE_CHECKING:
    from reconciler.audit.trail import AuditTrail
    from reconciler.ledger.model import Ledger
    from reconciler.ledger.store import LedgerStore
    from reconciler.reconcile.answers import Inputs

# The ledger's modules are imported where the ledger is read: `validate` reads no ledger.

LOCAL_DIR = ".reconciler"


@dataclass
class Workspace:
    """What every command needs: read once, in the order the command asks for it."""

    repo: Path
    env_name: str
    # Use the caches in .reconciler/cache/: the stat index of record files, the ledger's read.
    cache: bool = True
    jobs: int | None = None  # processes that may parse record files (None: every CPU)
    # What the walk of the record folders found, once the records were read (answers.py).
    walked: Fingerprint | None = field(default=None, init=False, repr=False)

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
        from reconciler.ledger.store import LedgerStore

        return LedgerStore(
            path=self.repo / self.environment.ledger,
            environment=self.env_name,
            shown=self.environment.ledger,
            root=self.repo.resolve(),
            local=self.repo / LOCAL_DIR,
            cached=self.cache,
        )

    @property
    def audit_path(self) -> Path:
        """The environment's audit trail (SPEC 9)."""
        return self.repo / self.audit_shown

    @property
    def audit_shown(self) -> str:
        """The audit trail's path relative to the repository, as messages name it."""
        return self.environment.audit or f"audit/{self.env_name}.jsonl"

    @property
    def audit_pending_path(self) -> Path:
        """Where an append to the audit trail keeps its line until it is written whole (named
        after the trail, as a ledger's lock is after the ledger)."""
        from reconciler.ledger.lock import lock_name

        name = lock_name(self.audit_path, self.repo.resolve()).removesuffix(".lock")
        return self.repo / LOCAL_DIR / "audit" / f"{name}.pending"

    def audit_trail(self) -> AuditTrail:
        """The environment's audit trail, to read, or to append to while holding the lock."""
        from reconciler.audit.trail import AuditTrail

        return AuditTrail(
            self.audit_path,
            pending=self.audit_pending_path,
            root=self.repo.resolve(),
            shown=self.audit_shown,
            environment=self.env_name,
        )

    @property
    def sandbox_dir(self) -> Path:
        return self.repo / SANDBOX_DIR

    @cached_property
    def records(self) -> Records:
        """Every record file, validated; LoadError with every problem otherwise."""
        index = None
        if self.cache:
            settings, kinds = self.settings.file, KINDS.values()
            index = StatIndex.of(self.repo, self.environment, settings, kinds)
        return load_records(
            self.repo,
            self.environment,
            max_file_bytes=self.settings.file.max_file_bytes,
            index=index,
            jobs=self.jobs,
            on_walk=self._saw_walk,
        )

    def _saw_walk(self, walked: Fingerprint) -> None:
        self.walked = walked

    def read_inputs(self) -> Inputs:
        """The files the command read so far (its settings, its ledger and journal when it
        read the ledger, and the record folders when it read the records): what a kept answer
        of it rests on (reconcile/answers.py)."""
        from reconciler.kinds import KINDS
        from reconciler.reconcile.answers import Inputs

        read = [SETTINGS_FILE]
        if "ledger_store" in self.__dict__:
            store = self.ledger_store
            read += [os.path.relpath(p, self.repo) for p in (store.path, store.journal_path)]
        if self.walked is None:
            return Inputs(tuple(read))
        folders = tuple(kind.folder for kind in KINDS.values())
        return Inputs(tuple(read), folders, self.walked)

    @property
    def desired(self) -> dict[Key, Desired]:
        return self.records.desired

    def ledger(self) -> Ledger:
        """The ledger as it is on disk now, with what an unfinished apply journaled (read again
        on every call)."""
        return self.ledger_store.read()
