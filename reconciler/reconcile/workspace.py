"""One repository and one environment: its settings, its record files and its ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.kinds import KINDS
from reconciler.model import Desired, Environment, Key
from reconciler.records.loader import Records, load_records
from reconciler.records.settings import SANDBOX_DIR, Settings, load_settings
from reconciler.records.stat_index import StatIndex

if TYPE_CHECKING:
    from reconciler.ledger.model import Ledger

# The ledger's modules are imported where the ledger is read: `validate` reads no ledger.

LOCAL_DIR = ".reconciler"


@dataclass
class Workspace:
    """What every command needs: read once, in the order the command asks for it."""

    repo: Path
    env_name: str
    cache: bool = True  # use the stat index of record files in .reconciler/cache/
    jobs: int | None = None  # processes that may parse record files (None: every CPU)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.repo)

    @cached_property
    def environment(self) -> Environment:
        """The environment the command works on, resolved from reconciler.yaml."""
        return self.settings.environment(self.env_name)

    @property
    def ledger_path(self) -> Path:
        return self.repo / self.environment.ledger

    @property
    def lock_path(self) -> Path:
        """The lock of the environment's ledger file (shared by every environment that names the
        same file)."""
        from reconciler.ledger import store as ledger_store

        name = ledger_store.lock_name(self.ledger_path, self.repo.resolve())
        return self.repo / LOCAL_DIR / "locks" / name

    @property
    def journal_path(self) -> Path:
        """Where an apply journals its changes to the environment's ledger file until it
        rewrites the file (named after the file, as its lock is)."""
        from reconciler.ledger import store as ledger_store

        name = ledger_store.lock_name(self.ledger_path, self.repo.resolve()).removesuffix(".lock")
        return self.repo / LOCAL_DIR / "journal" / f"{name}.jsonl"

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
        )

    @property
    def desired(self) -> dict[Key, Desired]:
        return self.records.desired

    def ledger(self) -> Ledger:
        """The ledger as it is on disk now, with what an unfinished apply journaled (read again
        on every call)."""
        from reconciler.ledger import journal

        return journal.read(
            self.ledger_path,
            self.journal_path,
            self.env_name,
            shown=self.environment.ledger,
            root=self.repo.resolve(),
        )

    def recovered_ledger(self) -> Ledger:
        """The ledger, with what an interrupted apply journaled written into its file. Only
        while holding the lock."""
        from reconciler.ledger import journal

        return journal.recover(
            self.ledger_path,
            self.journal_path,
            self.env_name,
            shown=self.environment.ledger,
            root=self.repo.resolve(),
        )

    @contextmanager
    def locked(self, purpose: str) -> Iterator[None]:
        """Hold the environment's lock (one apply or import at a time) or fail at once."""
        from reconciler.ledger import store as ledger_store

        with ledger_store.lock(self.lock_path, purpose=purpose, ledger=self.ledger_path):
            yield
