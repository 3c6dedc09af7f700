"""Notifications end to end (SPEC 5, `notify`): the real CLI sends apply's and drift's events
through apprise to a receiver on 127.0.0.1, and a receiver that is down, slow or not set up
never changes an exit code, never shows its URL, and never holds the apply."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import example_repository
from receiver import closed_port, receiving, wait_for
from sandbox_local import (
    CLINIC,
    ROCHESTER,
    behind_the_back,
    cli_process,
    ok,
    sandbox,
    sandbox_dir,
    served,
)

TOKEN = "Wh00kT0ken4242secret"  # the webhook URL's secret part: never shown
# The project's CI is a GitHub Actions run: its variables would add a run link to messages.
LOCAL = {"GITHUB_ACTIONS": "false"}


def with_notify(repo: Path, *entries: dict[str, Any]) -> Path:
    path = repo / "reconciler.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    settings["notify"] = list(entries)
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return repo


def everything_written(repo: Path) -> str:
    """The text of every file under the repository (ledgers, journals, logs, caches)."""
    return "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in repo.rglob("*") if p.is_file()
    )


def test_apply_posts_one_message_naming_the_environment_and_the_count(tmp_path: Path) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"), {"url_env": "HOOK", "events": ["apply.applied"]}
    )
    with served(tmp_path / "served") as server, receiving() as receiver:
        env = {**server.env, **LOCAL, "HOOK": receiver.url(f"hooks/{TOKEN}")}
        done = cli_process(repo, env, "apply", "--yes", "--env", "development")
        assert done.returncode == 0, done.stdout + done.stderr
        [message] = wait_for(receiver, 1)
        again = cli_process(repo, env, "apply", "--yes", "--env", "development")
        assert again.returncode == 0, again.stderr
        assert "No changes" in again.stdout
    assert message["body"]["title"] == "reconciler: applied to development"
    assert message["body"]["message"] == "Applied 5 changes to development: 5 created."
    assert len(receiver.messages()) == 1  # no changes, no message
    assert "Notified HOOK of apply.applied." in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_with_the_receiver_down_apply_exits_0_and_only_a_warning_names_the_failure(
    tmp_path: Path,
) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"), {"url_env": "HOOK", "events": ["apply.applied"]}
    )
    url = f"json://127.0.0.1:{closed_port()}/hooks/{TOKEN}"
    with served(tmp_path / "served") as server:
        env = {**server.env, **LOCAL, "HOOK": url}
        done = cli_process(repo, env, "-v", "apply", "--yes", "--env", "development")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete: 5 applied" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: the notification of apply.applied to HOOK failed: A Connection error "
        "occurred sending JSON notification to 127.0.0.1."
    ]
    # Not the URL, not its token, not even with --verbose; nor in any file written.
    assert TOKEN not in done.stdout + done.stderr
    assert TOKEN not in everything_written(repo)


def test_a_receiver_that_never_answers_does_not_hold_the_apply(tmp_path: Path) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"),
        {"url_env": "HOOK", "events": ["apply.applied"], "environments": ["sandbox"]},
    )
    with receiving(delay=120) as receiver:
        started = time.monotonic()
        done = cli_process(repo, {**LOCAL, "HOOK": receiver.url()}, "apply", "--yes")
        took = time.monotonic() - started
        assert len(receiver.messages()) == 1
    assert done.returncode == 0, done.stderr
    assert "Warning: the notification of apply.applied to HOOK failed: no answer within 5 s" in (
        done.stderr
    )
    # Five seconds for the delivery, the rest for a loaded machine: a guard, not a measure.
    assert took < 5 + 25, took


def test_drift_sends_drift_found_and_apply_sends_failed_and_refused(tmp_path: Path) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"),
        {
            "url_env": "HOOK",
            "events": ["drift.found", "apply.failed", "apply.refused"],
            "environments": ["sandbox"],
        },
        {"url_env": "OTHER", "events": ["apply.applied"]},  # not for the sandbox
    )
    with receiving() as receiver, receiving() as other:
        env = {**LOCAL, "HOOK": receiver.url(), "OTHER": other.url()}
        ok(repo, "apply", "--yes", env=env)
        assert receiver.messages() == []  # apply.applied is not HOOK's event
        behind_the_back(repo, CLINIC, lambda r: r["Address"].update(City="Fitchburg"))
        ok(repo, "drift", code=2, env=env)
        [found] = wait_for(receiver, 1)
        assert found["body"]["title"] == "reconciler: drift in sandbox"
        assert "1 record of 5 checked" in found["body"]["message"]

        wrong = "sha256:" + "0" * 64
        ok(repo, "apply", "--yes", "--expect-digest", wrong, code=1, env=env)
        refused = wait_for(receiver, 2)[-1]
        assert refused["body"]["title"] == "reconciler: apply to sandbox refused"
        assert "changed since it was reviewed" in refused["body"]["message"]

        # An update of a record the directory lost: Redox refuses it, and apply fails it.
        held = sandbox(repo).organizations()
        (sandbox_dir(repo) / "directory.jsonl").unlink()
        for oid, record in held.items():
            if oid != ROCHESTER:
                sandbox(repo).put_organization(record)
        rochester = repo / "orgs" / "rochester-specialty-center.yaml"
        rochester.write_text(rochester.read_text().replace("200 1st St SW", "201 1st St SW"))
        ok(repo, "apply", "--yes", code=1, env=env)
        failed = wait_for(receiver, 3)[-1]
        assert failed["body"]["title"] == "reconciler: apply to sandbox failed"
        assert "1 failed" in failed["body"]["message"]
        assert other.messages() == []


def test_in_a_workflow_the_message_names_the_pull_request_and_links_the_run(
    tmp_path: Path,
) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"),
        {"url_env": "HOOK", "events": ["apply.applied"], "environments": ["sandbox"]},
    )
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 31}}', encoding="utf-8")
    with receiving() as receiver:
        runner = {
            "HOOK": receiver.url(),
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "northwind/redox-records",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "9001",
            "GITHUB_EVENT_PATH": str(event),
        }
        ok(repo, "apply", "--yes", env=runner)
        [message] = wait_for(receiver, 1)
    assert message["body"]["message"].splitlines()[1:] == [
        "Pull request: #31 https://github.com/northwind/redox-records/pull/31",
        "Run: https://github.com/northwind/redox-records/actions/runs/9001",
    ]


WITHOUT_APPRISE = """
import sys
sys.modules["apprise"] = None  # as if it were not installed
from reconciler.cli import main
sys.argv = ["reconciler", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_without_apprise_validate_and_apply_say_how_to_install_it(
    tmp_path: Path, command: str
) -> None:
    repo = with_notify(
        example_repository(tmp_path / "repo"),
        {"url_env": "HOOK", "events": ["apply.applied"], "environments": ["sandbox"]},
    )
    args = ["apply", "--yes"] if command == "apply" else ["validate"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDOX_", "GITHUB_"))}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_APPRISE, *args, "--repo", str(repo)],
        env={**clean, "HOOK": "json://127.0.0.1:1/x"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    install = "pip install 'redox-reconciler[notify]'"
    if command == "validate":
        line = next(x for x in done.stdout.splitlines() if "warning" in x)
        assert line.startswith("reconciler.yaml:")
        assert "notify is set, but apprise" in line
        assert install in line
    else:
        assert "apprise is not installed" in done.stderr
        assert install in done.stderr
