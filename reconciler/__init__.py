"""redox-reconciler: Carequality organization and provider records as YAML, made real in Redox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

DISTRIBUTION = "redox-reconciler"


def version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    # Imported here: importlib.metadata costs every command tens of milliseconds at start-up.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    # Looked up on first use, so importing the package reads no distribution metadata.
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's module `__getattr__` (PEP 562) that imports the module `where` names for an
    attribute on its first use and keeps it in the package: what a command does not use, it
    does not import."""
    import importlib
    import sys

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
