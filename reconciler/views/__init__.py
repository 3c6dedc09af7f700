"""The views as data, pure analyses of the files and the ledgers (rendered by render/):

- `status`: every record x every environment, in sync or what is pending;
- `graph`: the organization hierarchy, each record marked by what the plan does to it;
- `history`: a record's changes and when each environment got them;
- `drift`: what the directory holds otherwise than the ledger says, and the rotation of checks.
"""
