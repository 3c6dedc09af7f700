"""Who applies: the GitHub actor in a workflow, the git user or the OS user on a machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.audit.actor import resolve_actor


@pytest.fixture
def no_git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """git finds no user.name or user.email (git runs with the process environment)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null" if sys.platform != "win32" else "NUL")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path, no_git_identity: None) -> Path:
    """A repository whose git user is only what a test configures in it."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def config(repo: Path, key: str, value: str) -> None:
    subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)


def test_in_a_workflow_the_actor_is_the_github_actor(repo: Path) -> None:
    config(repo, "user.name", "Local Person")
    actor = resolve_actor({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "alice"}, repo)
    assert (actor.name, actor.via) == ("alice", "github")


def test_outside_a_workflow_github_actor_is_not_believed(repo: Path) -> None:
    config(repo, "user.name", "Local Person")
    config(repo, "user.email", "local@example.org")
    actor = resolve_actor({"GITHUB_ACTOR": "alice", "USER": "root"}, repo)
    assert (actor.name, actor.via) == ("Local Person <local@example.org>", "local")


def test_a_workflow_without_an_actor_falls_back_to_the_git_user(repo: Path) -> None:
    config(repo, "user.name", "Runner")
    actor = resolve_actor({"GITHUB_ACTIONS": "true"}, repo)
    assert (actor.name, actor.via) == ("Runner", "github")


def test_without_a_git_user_the_os_user_applies(repo: Path) -> None:
    actor = resolve_actor({"LOGNAME": "dana", "USER": "other"}, repo)
    assert (actor.name, actor.via) == ("dana", "local")


@pytest.mark.skipif(sys.platform == "win32", reason="reads the password database")
def test_with_no_name_at_all_the_account_is_read(repo: Path) -> None:
    import os
    import pwd

    actor = resolve_actor({}, repo)
    assert actor.name == pwd.getpwuid(os.getuid()).pw_name


def test_an_actor_is_one_line_of_bounded_length(repo: Path) -> None:
    actor = resolve_actor({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "a\nb\t" + "x" * 500}, repo)
    assert "\n" not in actor.name
    assert actor.name.startswith("a b xxx")
    assert len(actor.name) < 260
