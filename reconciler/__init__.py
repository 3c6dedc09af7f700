"""redox-reconciler: Carequality organization and provider records as YAML, made real in Redox."""

from __future__ import annotations

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
