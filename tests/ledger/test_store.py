"""LedgerStore, the one way into a ledger: what a killed write left in the folders it writes is
removed once the lock is held, and recovery writes an interrupted apply's journal back."""

from __future__ import annotations

from collections.abc import Callable

from factories import Repo

from reconciler.formats import atomic


def test_taking_the_lock_removes_what_killed_writes_left_in_the_ledger_and_journal_folders(
    repo: Callable[..., Repo],
) -> None:
    made = repo(example=True)
    made.settle()
    store = made.workspace().ledger_store
    store.journal_path.parent.mkdir(parents=True, exist_ok=True)
    left = [
        path.parent / f".{path.name}.k9x2{atomic.TEMP_SUFFIX}"
        for path in (store.path, store.journal_path)
    ]
    unrelated = store.journal_path.parent / ".other.jsonl.k9x2.tmp"
    for path in [*left, unrelated]:
        path.write_text("half a write", encoding="utf-8")

    with store.lock("apply"):
        assert [path for path in left if path.exists()] == []
    assert unrelated.exists()  # another ledger's journal: its own lock's to clean
