"""One bytecode folder for a test session, where PYTHONDONTWRITEBYTECODE is set.

Under that variable every Python process the suite starts (the xdist workers, the 800-odd CLI
subprocesses, the sandbox servers, the workflow steps) would compile everything it imports
from source again. `share` (tests/conftest.py's pytest_configure, in the controller before any
worker starts) points PYTHONPYCACHEPREFIX at a temporary folder of the session's own, lets the
processes write there, and compiles into it what each worker imports first. Nothing is written
into the checkout, as the variable asks, and the folder is removed when the session ends. A
prefix chosen already is kept; without the variable nothing changes (`__pycache__` as usual).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PREFIX = "PYTHONPYCACHEPREFIX"


def share(config: pytest.Config) -> None:
    """Set up the session's bytecode folder (see the module's doc)."""
    if hasattr(config, "workerinput") or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # a worker inherits the controller's environment
    if os.environ.get(PREFIX):
        return
    prefix = tempfile.mkdtemp(prefix="reconciler-bytecode-")
    config.add_cleanup(lambda: shutil.rmtree(prefix, ignore_errors=True))
    os.environ[PREFIX] = prefix
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False
    _compile_ahead()


def passed_on() -> dict[str, str]:
    """The session's bytecode folder, for an environment a test builds from nothing (a
    runner's, a new user's shell): its Python processes would otherwise write `__pycache__`
    into the checkout. No command of the tool reads the variable."""
    prefix = os.environ.get(PREFIX)
    return {PREFIX: prefix} if prefix else {}


def _compile_ahead() -> None:
    """Compile into the prefix the modules loaded by now (pytest, the CLI and its libraries)
    and the project's own, before the workers start: otherwise each of them compiles it all
    at once (about 4 s of CPU each, measured on the collection alone)."""
    import compileall
    import py_compile

    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if source and source.endswith(".py"):
            with contextlib.suppress(OSError):  # then the first import compiles it
                py_compile.compile(source, quiet=2)
    for folder in ("reconciler", "tests"):
        compileall.compile_dir(PROJECT / folder, quiet=2)
