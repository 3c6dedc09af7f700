"""The risk: a plan made with a pool of processes differs from one made in one process. On a
tree of 700 files with mistakes planted in many of them (and across them), `validate` and `plan`
with two processes print byte for byte what one prints: the same errors, on the same files and
lines, in the same order; with processes forked (Linux) or spawned (Windows, macOS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import GATEWAY
from factories import organization_text as org_yaml
from sandbox_server import clean_environ, generated_repo, run_cli

ROOT = "2.16.840.1.113883.3.6147.458.31337"
CHILDREN = 700

# Mistakes of every stage: YAML, the model, the wire form, and the checks across files.
PLANTED = [
    "oid: [unclosed\n",
    "\xff\xfe not UTF-8",
    "",
    "- a list\n",
    "oid: !!python/object:os.system x\n",
    None,  # unknown key
    None,  # a bad phone and a bad state
    None,  # the OID of another file
    None,  # an unknown parent
    None,  # a yes word
]


def _plant(repo: Path) -> int:
    """Mistakes in every 23rd file; how many files were changed."""
    orgs = repo / "orgs"
    count = 0
    for n in range(1, CHILDREN + 1, 23):
        path = orgs / f"clinic-{n:04d}.yaml"
        mistake = PLANTED[count % len(PLANTED)]
        kind = count % len(PLANTED)
        if mistake is not None:
            path.write_bytes(mistake.encode("latin-1") if "\xff" in mistake else mistake.encode())
        elif kind == 5:
            path.write_text(org_yaml(f"{ROOT}.{n}", "X", part_of=ROOT, extra="colour: red\n"))
        elif kind == 6:
            text = org_yaml(f"{ROOT}.{n}", "X", part_of=ROOT).replace("+16085550100", "12")
            path.write_text(text.replace("state: WI", "state: XX"))
        elif kind == 7:
            path.write_text(org_yaml(f"{ROOT}.2", "Same OID", part_of=ROOT))
        elif kind == 8:
            path.write_text(org_yaml(f"{ROOT}.{n}", "Orphan", part_of=ROOT + ".99999"))
        else:
            path.write_text(org_yaml(f"{ROOT}.{n}", "Word", part_of=ROOT, extra="  county: yes\n"))
        count += 1
    (orgs / "folder.yaml").mkdir()
    return count


def _both(repo: Path, *args: str, environ: dict[str, str] | None = None) -> str:
    """The output of `args` with one process and with two, which must be equal; it."""
    serial = run_cli(repo, "--no-cache", "--jobs", "1", *args, environ=environ)
    parallel = run_cli(repo, "--no-cache", "-v", "--jobs", "2", *args, environ=environ)
    assert "files parsed in 2 processes" in parallel.stderr  # the pool did run
    assert serial.returncode == parallel.returncode
    assert serial.stdout == parallel.stdout
    quiet = [line for line in parallel.stderr.splitlines() if "files parsed in" not in line]
    assert serial.stderr.splitlines() == [line for line in quiet if "opened" not in line]
    return serial.stdout + serial.stderr


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = generated_repo(tmp_path_factory.mktemp("planted"), children=CHILDREN, root=ROOT)
    assert _plant(repo) == 31
    return repo


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_finds_the_same_errors_in_the_same_order(planted: Path, fmt: str) -> None:
    shown = _both(planted, "validate", "--format", fmt)
    for expected in (
        "is not valid YAML",
        "is not UTF-8",
        "the file is empty",
        "holds a list",
        "uses the YAML tag",
        "unknown key 'colour'",
        "already used by orgs/clinic-0002.yaml",
        "is neither the Redox gateway",
        "write true or false",
        "orgs/folder.yaml",
    ):
        assert expected in shown, expected


def test_plans_are_byte_identical_in_text_and_json(tmp_path: Path) -> None:
    repo = generated_repo(tmp_path / "repo", children=CHILDREN, root=ROOT)
    assert "Plan: 701 to create" in _both(repo, "plan")
    _both(repo, "plan", "--format", "json")


SPAWNED = """
import runpy, sys, threading, time
# A thread running makes fork unsafe: the pool spawns its workers, as on Windows and macOS.
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
sys.argv = ["reconciler", *sys.argv[1:]]
runpy.run_module("reconciler", run_name="__main__", alter_sys=True)
"""


def test_spawned_workers_give_the_same_result(planted: Path) -> None:
    """`python -m reconciler` whose workers are spawned: each imports the package afresh (and
    must not run the command again)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", SPAWNED, "--repo", str(planted), "--no-cache", *args],
            env=clean_environ({"NO_COLOR": "1"}),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    serial = run("--jobs", "1", "validate", "--format", "json")
    spawned = run("-v", "--jobs", "2", "validate", "--format", "json")
    assert "files parsed in 2 processes" in spawned.stderr
    assert "Traceback" not in spawned.stderr
    assert (spawned.returncode, spawned.stdout) == (serial.returncode, serial.stdout)
    assert serial.returncode == 1


def test_a_small_tree_is_read_in_this_process(tmp_path: Path) -> None:
    repo = generated_repo(tmp_path / "repo", children=20, root=ROOT)
    done = run_cli(repo, "-v", "--jobs", "4", "validate")
    assert done.returncode == 0, done.stderr
    assert "processes" not in done.stderr
    assert GATEWAY  # the generated parent hangs under the gateway
    assert os.path.exists(repo / "orgs" / "parent.yaml")
