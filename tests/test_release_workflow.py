"""The release workflow: a version tag builds once, tests what was built and publishes it by
trusted publishing; only the publish job may mint an OIDC token. (actionlint runs on it with the
other workflows in test_workflows.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]
RELEASE = PROJECT / ".github" / "workflows" / "release.yml"
PINNED = re.compile(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def release() -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load(RELEASE.read_text(encoding="utf-8"))
    document["on"] = document.pop(True)  # PyYAML reads the key `on` as True
    return document


def test_a_version_tag_and_nothing_else_starts_a_release() -> None:
    assert release()["on"] == {"push": {"tags": ["v*.*.*"]}}


def test_build_then_test_then_publish_the_same_artifact() -> None:
    jobs = release()["jobs"]
    assert list(jobs) == ["build", "test", "publish"]
    assert jobs["test"]["needs"] == "build"
    assert jobs["publish"]["needs"] == ["build", "test"]
    uploads = [s for s in jobs["build"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert [s["with"]["name"] for s in uploads] == ["dist"]
    for job in ("test", "publish"):
        downloads = [s for s in jobs[job]["steps"] if "download-artifact" in s.get("uses", "")]
        assert [s["with"]["name"] for s in downloads] == ["dist"], job
    build_runs = "\n".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "python -m build" in build_runs
    assert '"${TAG#v}"' in build_runs  # the tag must name the built version
    test_runs = "\n".join(s.get("run", "") for s in jobs["test"]["steps"])
    for command in ('reconciler" --version', 'reconciler" validate', "pytest"):
        assert command in test_runs, command


def test_only_the_publish_job_can_mint_an_oidc_token_and_it_stores_no_secret() -> None:
    document = release()
    assert document["permissions"] == {}
    jobs = document["jobs"]
    assert jobs["publish"]["permissions"] == {"id-token": "write"}
    assert jobs["publish"]["environment"]["name"] == "pypi"
    for name in ("build", "test"):
        assert "id-token" not in jobs[name].get("permissions", {}), name
    [publish] = [s for s in jobs["publish"]["steps"] if "pypi-publish" in s.get("uses", "")]
    assert "with" not in publish  # no password, no token: trusted publishing
    assert "secrets." not in RELEASE.read_text(encoding="utf-8")


def test_every_action_is_pinned_to_a_commit_with_its_version_and_checkout_keeps_no_token() -> None:
    lines = [line.strip(" -") for line in RELEASE.read_text(encoding="utf-8").splitlines()]
    uses = [line for line in lines if line.startswith("uses:")]
    assert uses
    assert [line for line in uses if not PINNED.fullmatch(line)] == []
    for job in release()["jobs"].values():
        for step in job["steps"]:
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_every_run_block_is_at_most_fifteen_lines() -> None:
    for job in release()["jobs"].values():
        for step in job["steps"]:
            assert len(step.get("run", "").splitlines()) <= 15, step.get("name")


def test_dependabot_updates_actions_and_pip_weekly() -> None:
    config = yaml.safe_load((PROJECT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert config["version"] == 2
    updates = {(u["package-ecosystem"], u["directory"]): u for u in config["updates"]}
    # pyproject's dependencies, and the hash-pinned lock the workflows install from.
    assert set(updates) == {
        ("github-actions", "/"),
        ("pip", "/"),
        ("pip", "/reconciler/templates"),
    }
    assert {u["schedule"]["interval"] for u in updates.values()} == {"weekly"}
