"""The `reconciler` command. This package is the only place that prints, reads the process
environment or exits; each module holds one group of commands.

- `group`: the command itself (`cli`, `main`), which imports each subcommand when it runs;
- `base`: what every command shares (failures as one paragraph, --env/--repo, colour).

`cli` and `main` are imported from `group` on first use, so that importing a module of this
package (the entry point's, see reconciler/__main__.py) does not load click and the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler import lazy_names

if TYPE_CHECKING:
    from reconciler.cli.group import cli, main

__getattr__ = lazy_names(__name__, {"cli": "reconciler.cli.group", "main": "reconciler.cli.group"})

__all__ = ["cli", "main"]
