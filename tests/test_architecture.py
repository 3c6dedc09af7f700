"""Dependencies point inward: the plan and its renderings import no I/O library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

IO_LIBRARIES = ("httpx", "httpcore", "yaml", "click", "uvicorn")


def imported_by(*modules: str) -> list[str]:
    """The top-level packages a fresh interpreter holds after importing `modules`."""
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return list(json.loads(out))


@pytest.mark.parametrize("module", ["reconciler.plan", "reconciler.render"])
def test_the_core_imports_no_io_library(module: str) -> None:
    loaded = imported_by(module)
    assert [name for name in IO_LIBRARIES if name in loaded] == []


def test_the_check_sees_a_library_when_it_is_imported() -> None:
    assert "yaml" in imported_by("reconciler.plan", "reconciler.yamlfile")
