"""What the reconciler reads of the records repository's git: `reader` runs `git` (the HEAD
commit, a file's commits, a file at a commit); `history` assembles a record's history (its
file's commits and the ledger commits that recorded it applied) for `reconciler history`.
"""
