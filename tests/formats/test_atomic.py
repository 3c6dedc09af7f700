"""atomic_write: a file the tool writes gets the mode open() would give it (0666 less the
umask), a file it rewrites keeps its mode, and a killed write's temporary files are found."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.formats import atomic

pytestmark = pytest.mark.posix


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(*args: str, umask: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(umask),
    )


def test_init_under_umask_022_writes_every_file_0644(tmp_path: Path) -> None:
    done = _run("-m", "reconciler", "init", str(tmp_path / "records"), umask=0o022, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    written = [p for p in (tmp_path / "records").rglob("*") if p.is_file()]
    assert len(written) >= 6, written  # settings, example, .gitignore, workflows, hooks, lock
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in written if _mode(p) != 0o644} == {}


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    code = (
        "import sys; from pathlib import Path; from reconciler.formats.atomic import atomic_write; "
        "atomic_write(Path(sys.argv[1]), 'text\\n')"
    )
    target = tmp_path / "new.json"
    done = _run("-c", code, str(target), umask=umask, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert oct(_mode(target)) == oct(expected)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_a_file_that_exists_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "ledger.json"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(mode)
    atomic.atomic_write(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert oct(_mode(target)) == oct(mode)


def test_leftovers_are_the_killed_writes_of_that_file_only(tmp_path: Path) -> None:
    target = tmp_path / "ledger.json"
    mine = [tmp_path / f".ledger.json.{tag}{atomic.TEMP_SUFFIX}" for tag in ("a1b2", "zz")]
    others = [tmp_path / ".other.json.a1b2.tmp", tmp_path / ".ledger.json.keep", target]
    for path in [*mine, *others]:
        path.write_text("x", encoding="utf-8")
    assert sorted(atomic.remove_leftovers(target)) == sorted(mine)
    assert all(p.exists() for p in others)
    assert not any(p.exists() for p in mine)
