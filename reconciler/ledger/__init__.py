"""The recorded side: what was last applied to each environment, and the calls started.

- `model`: the ledger's types (Ledger, Entry, Intent, Edit), pure;
- `store`: `LedgerStore`, the one way in: read, lock, recover (an interrupted apply's journal
  written back in one read of the file), save;
- `writer`: `LedgerWriter`, how the engine records what each call did (journal, compaction);
- `file`, `text`, `checks`: the file read whole, read record by record, and the checks both
  make; `journal`: an apply's changes as fsync'd lines; `lock`: one apply at a time;
- `adopt`: what `import` records for a record the directory holds.
"""

from reconciler.ledger.model import Edit, Entry, Intent, Ledger, entry_digest, make_entry, now

__all__ = ["Edit", "Entry", "Intent", "Ledger", "entry_digest", "make_entry", "now"]
