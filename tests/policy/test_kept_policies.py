"""Compiled policies kept between runs, through the CLI in fresh interpreters: the first plan
with policies imports celpy and keeps what it compiled; the next neither imports celpy nor
lark, and finds the same violations; --no-cache compiles again and keeps nothing; a damaged
cache is compiled again; validate reads the kept forms too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from loaded_modules import run_loaded

PROJECT = Path(__file__).resolve().parents[2]
CEL = {"celpy", "lark", "pendulum", "re2"}
POLICIES = """
policies:
  - name: no-creates
    level: advisory
    deny: change.action == "create" && change.kind == "organization"
    message: No new organizations.
  - name: contacts-on-our-domain
    level: soft
    approvers: [alice]
    deny: >-
      change.kind == "organization" && change.after.Contacts.exists(c,
        c.EmailAddresses.exists(e, !e.endsWith("@northwind-health.example")))
    message: Contacts must be ours.
  - name: needs-an-address
    level: advisory
    deny: change.after.Address.City == null
    message: Every record needs a city.
"""


def run(tmp_path: Path, repo: Path, *args: str) -> tuple[int, set[str], str]:
    """`reconciler ARGS` in a fresh interpreter: its exit code, the top-level packages it
    loaded (and the modules of reconciler.policy), and what it printed."""
    found = run_loaded(tmp_path, repo, *args)
    assert isinstance(found.code, int), found.code
    policy = {m for m in found.modules if m.startswith("reconciler.policy.")}
    return found.code, found.packages | policy, found.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    made = tmp_path / "repo"
    for folder in ("orgs", "providers"):
        shutil.copytree(PROJECT / folder, made / folder)
    settings = (PROJECT / "reconciler.yaml").read_text(encoding="utf-8")
    (made / "reconciler.yaml").write_text(settings + POLICIES, encoding="utf-8")
    return made


def policies_of(printed: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(printed)["policies"]
    return found


def test_a_warm_plan_with_policies_imports_no_celpy(tmp_path: Path, repo: Path) -> None:
    kept = repo / ".reconciler" / "cache" / "policies.json"
    code, modules, cold = run(tmp_path, repo, "plan", "--format", "json")
    assert code == 0
    assert "celpy" in modules
    assert kept.exists()
    code, modules, warm = run(tmp_path, repo, "plan", "--format", "json")
    assert code == 0
    assert modules & CEL == set()
    assert policies_of(warm) == policies_of(cold)
    assert {p["name"]: len(p["violations"]) for p in policies_of(warm)}["no-creates"] > 0
    # validate compiles every policy: from the kept forms too.
    code, modules, _ = run(tmp_path, repo, "validate")
    assert code == 0
    assert modules & CEL == set()


def test_a_plan_without_policies_loads_no_compiler(tmp_path: Path, repo: Path) -> None:
    settings = repo / "reconciler.yaml"
    settings.write_text(settings.read_text().split("\npolicies:")[0] + "\n")
    code, modules, _ = run(tmp_path, repo, "plan")
    assert code == 0
    assert modules & CEL == set()
    assert {"reconciler.policy.cel", "reconciler.policy.closures"} & modules == set()
    assert not (repo / ".reconciler" / "cache" / "policies.json").exists()


def test_no_cache_compiles_again_and_keeps_nothing(tmp_path: Path, repo: Path) -> None:
    code, modules, printed = run(tmp_path, repo, "--no-cache", "plan", "--format", "json")
    assert code == 0
    assert "celpy" in modules
    assert not (repo / ".reconciler" / "cache" / "policies.json").exists()
    assert policies_of(printed)


def test_a_damaged_cache_is_compiled_again(tmp_path: Path, repo: Path) -> None:
    code, _, cold = run(tmp_path, repo, "plan", "--format", "json")
    kept = repo / ".reconciler" / "cache" / "policies.json"
    kept.write_text(kept.read_text()[:-40])
    code, modules, again = run(tmp_path, repo, "plan", "--format", "json")
    assert code == 0
    assert "celpy" in modules
    assert policies_of(again) == policies_of(cold)
    code, modules, _ = run(tmp_path, repo, "plan", "--format", "json")
    assert modules & CEL == set()  # written again whole


def test_an_edited_policy_is_compiled_and_the_others_are_not(tmp_path: Path, repo: Path) -> None:
    run(tmp_path, repo, "plan")
    settings = repo / "reconciler.yaml"
    settings.write_text(settings.read_text().replace("== null", "== 'Nowhere'"))
    code, modules, _ = run(tmp_path, repo, "plan", "--format", "json")
    assert code == 0
    assert "celpy" in modules
    kept = (repo / ".reconciler" / "cache" / "policies.json").read_text().splitlines()
    assert len(json.loads(kept[1])) == 4  # three kept, one new
    _, modules, _ = run(tmp_path, repo, "plan", "--format", "json")
    assert modules & CEL == set()
