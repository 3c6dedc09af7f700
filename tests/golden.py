"""Golden files of rendered plans (tests/golden/): compared, or rewritten with UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == path.read_text(encoding="utf-8")
