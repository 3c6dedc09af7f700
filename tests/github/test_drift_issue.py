"""`reconciler github drift-issue` (SPEC 5): one open issue `Drift in ENV` per environment,
opened, kept current and closed from drift reports, against the fake GitHub API on 127.0.0.1
(issues, labels and comments, paged by Link headers as GitHub pages them)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from factories import example_repository
from fake_github import BOT, WRITE_TOKEN, FakeGitHub, served
from receiver import receiving, wait_for

from reconciler.cli import cli
from reconciler.github import parse_report, read_state
from reconciler.github.drift_issue import STATE_LIMIT, state_marker, tracked
from reconciler.plan import FieldChange
from reconciler.render import drift_document
from reconciler.render.drift_issue import ISSUE_LIMIT
from reconciler.views.drift import Drift, Finding, Part

REPOSITORY = "northwind/redox-records"
BASE = "2.16.840.1.113883.3.6147.458.24601.1"
MARKER = "<!-- reconciler:drift-issue env=development -->"
EVERY_RECORD = Part(0, 1)


def drifted(number: int, city: str = "Fitchburg", *, finding: str = "different") -> Drift:
    oid = f"{BASE}.{number}"
    fields = (FieldChange("Address.City", "Madison", city),) if finding == "different" else ()
    return Drift(
        f"organization:{oid}",
        "organization",
        oid,
        Finding(finding),
        f"orgs/clinic-{number}.yaml",
        fields,
        name=f"Northwind Clinic {number}",
        applied_at="2025-05-30T10:00:00Z",
    )


def report(
    *drifts: Drift, env: str = "development", part: Part = EVERY_RECORD, checked: int = 5
) -> dict[str, Any]:
    return drift_document(list(drifts), checked, env, part=part, ledgered=checked * part.parts)


@dataclass
class Step:
    """A drift workflow step: the runner's variables, the records repository, the fake API."""

    root: Path
    url: str
    repo: Path
    api: FakeGitHub

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_TOKEN": WRITE_TOKEN,
            "GITHUB_API_URL": self.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "77",
            "GITHUB_OUTPUT": str(self.root / "output"),
            "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
            **extra,
        }

    def write(self, document: dict[str, Any], name: str = "drift.json") -> Path:
        path = self.root / name
        path.write_text(json.dumps(document), encoding="utf-8")
        return path

    def issue(self, document: dict[str, Any], *, env: str = "development", **extra: str) -> Result:
        path = self.write(document)
        (self.root / "output").write_text("")
        args = ["--repo", str(self.repo), "github", "drift-issue", "--env", env, str(path)]
        result = CliRunner().invoke(cli, args, env=self.environ(**extra))
        assert "Traceback" not in result.output, result.output
        return result

    @property
    def outputs(self) -> dict[str, str]:
        lines = (self.root / "output").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def ours(self) -> list[dict[str, Any]]:
        return [
            i
            for i in self.api.open_issues("drift")
            if i["body"].startswith(MARKER) and i["user"]["login"] == BOT
        ]

    def writes(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.api.seen() if r["method"] != "GET"]


@pytest.fixture
def step(tmp_path: Path) -> Iterator[Step]:
    api = FakeGitHub(REPOSITORY)
    root = tmp_path / "runner"
    root.mkdir()
    with served(api) as url:
        yield Step(root, url, example_repository(tmp_path / "records"), api)


def opened(step: Step, *drifts: Drift) -> dict[str, Any]:
    result = step.issue(report(*drifts))
    assert result.exit_code == 0, result.output
    [issue] = step.ours()
    return issue


# -- opening, keeping current, closing --------------------------------------------------------


def test_one_drifted_record_opens_one_issue_naming_it(step: Step) -> None:
    result = step.issue(report(drifted(1)))
    assert result.exit_code == 0, result.output
    [issue] = step.ours()
    assert issue["title"] == "Drift in development"
    assert [label["name"] for label in issue["labels"]] == ["drift"]
    assert issue["user"]["login"] == BOT
    body = issue["body"]
    assert body.startswith(MARKER)
    assert f"| `{BASE}.1` | Northwind Clinic 1 | different in the directory |" in body
    assert '| `Address.City` | `"Madison"` | `"Fitchburg"` |' in body
    assert "last applied 2025-05-30 10:00 UTC from `orgs/clinic-1.yaml`" in body
    assert f"reconciler apply --refresh --env development --target {BASE}.1" in body
    assert "write the directory's values above into `orgs/clinic-1.yaml`" in body
    assert "https://github.com/northwind/redox-records/actions/runs/77" in body
    assert len(body) <= ISSUE_LIMIT
    assert f"Opened the drift issue of development: #{issue['number']}" in result.output
    assert step.outputs == {"issue": str(issue["number"]), "outcome": "opened"}
    assert step.api.labels["drift"]["color"] == "d93f0b"
    assert step.api.comments_on(issue["number"]) == []


def test_the_same_report_again_adds_no_comment_and_no_issue(step: Step) -> None:
    issue = opened(step, drifted(1))
    again = step.issue(report(drifted(1)))
    assert again.exit_code == 0, again.output
    assert "Refreshed (the same records drift)" in again.output
    assert step.outputs["outcome"] == "unchanged"
    assert [i["number"] for i in step.ours()] == [issue["number"]]
    assert step.api.comments_on(issue["number"]) == []
    # A new value of a field already listed edits the body, and still no comment.
    step.issue(report(drifted(1, city="Verona")))
    [now] = step.ours()
    assert '`"Verona"`' in now["body"]
    assert step.api.comments_on(issue["number"]) == []


def test_a_second_drifted_record_updates_the_body_and_adds_one_comment(step: Step) -> None:
    issue = opened(step, drifted(1))
    result = step.issue(report(drifted(1), drifted(2)))
    assert result.exit_code == 0, result.output
    assert step.outputs["outcome"] == "updated"
    [now] = step.ours()
    assert now["number"] == issue["number"]
    assert f"`{BASE}.1`" in now["body"]
    assert f"`{BASE}.2`" in now["body"]
    assert "**2 records**" in now["body"]
    [comment] = step.api.comments_on(issue["number"])
    assert "**Now differ:**" in comment["body"]
    assert f"- `{BASE}.2` Northwind Clinic 2 (different in the directory)" in comment["body"]
    assert f"`{BASE}.1`" not in comment["body"]
    assert "2 records differ now" in comment["body"]

    # The first one repaired: another comment, naming it as matching again.
    step.issue(report(drifted(2)))
    last = step.api.comments_on(issue["number"])[-1]["body"]
    assert f"**Match again:**\n- `{BASE}.1` Northwind Clinic 1" in last
    assert "1 record differs now" in last
    assert f"`{BASE}.1`" not in step.ours()[0]["body"]


def test_a_clean_report_closes_the_issue_with_a_comment(step: Step) -> None:
    issue = opened(step, drifted(1))
    result = step.issue(report())
    assert result.exit_code == 0, result.output
    assert f"No drift left in development: closed the drift issue #{issue['number']}" in (
        result.output
    )
    closed = step.api.issue(issue["number"])
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    [comment] = step.api.comments_on(issue["number"])
    assert comment["body"].startswith("No drift left in `development`")
    assert step.ours() == []

    # Clean again: nothing to do, nothing written.
    before = len(step.writes())
    again = step.issue(report())
    assert "No drift in development, and no drift issue open." in again.output
    assert step.outputs["outcome"] == "clean"
    assert len(step.writes()) == before
    # Drift again: a new issue (the closed one stays closed).
    reopened = opened(step, drifted(3))
    assert reopened["number"] != issue["number"]


def test_closing_the_issue_sends_drift_resolved(step: Step) -> None:
    settings = step.repo / "reconciler.yaml"
    data = yaml.safe_load(settings.read_text())
    data["notify"] = [{"url_env": "HOOK", "events": ["drift.resolved"]}]
    settings.write_text(yaml.safe_dump(data))
    opened(step, drifted(1))
    with receiving() as receiver:
        step.issue(report(), HOOK=receiver.url())
        [message] = wait_for(receiver, 1)
    assert message["body"]["title"] == "reconciler: drift in development resolved"
    assert (
        "Closed the drift issue: https://github.com/northwind/redox-records/issues/"
        in (message["body"]["message"])
    )
    assert (
        "Run: https://github.com/northwind/redox-records/actions/runs/77"
        in (message["body"]["message"])
    )


def test_other_issues_are_left_alone(step: Step) -> None:
    api = step.api
    look_alikes = [
        # A person's issue of the same title and label, without the marker.
        api.add_issue(
            "Drift in development", "Clinic 4 looks odd", labels=("drift",), login="dana"
        ),
        # A person's copy of the marker is not trusted either.
        api.add_issue("Drift in development", f"{MARKER}\nquoted", labels=("drift",), login="dana"),
        # The drift issue of another environment.
        api.add_issue(
            "Drift in production",
            "<!-- reconciler:drift-issue env=production -->\n",
            labels=("drift",),
        ),
        # A pull request, which GitHub lists among the issues.
        api.add_issue("Fix drift", f"{MARKER}\n", labels=("drift",), pull_request=True),
        # The bot's marked issue, but without the label: not found by label, so not ours.
        api.add_issue("Drift in development", f"{MARKER}\n"),
    ]
    before = {i["number"]: (i["body"], i["state"]) for i in look_alikes}
    issue = opened(step, drifted(1))
    assert issue["number"] not in before
    step.issue(report(drifted(1), drifted(2)))
    step.issue(report())
    for number, (body, state) in before.items():
        now = api.issue(number)
        assert (now["body"], now["state"]) == (body, state), number
        assert api.comments_on(number) == []
    assert api.issue(issue["number"])["state"] == "closed"


def test_a_second_open_drift_issue_is_closed_as_a_duplicate_of_the_older(step: Step) -> None:
    first = opened(step, drifted(1))
    # As a race of two runs that both found no issue leaves it, had one not cleaned up.
    body = first["body"]
    second = step.api.add_issue("Drift in development", body, labels=("drift",))
    result = step.issue(report(drifted(1)))
    assert f"Closed #{second['number']}, a second drift issue of development" in result.output
    assert [i["number"] for i in step.ours()] == [first["number"]]
    [comment] = step.api.comments_on(second["number"])
    assert comment["body"].startswith(f"Closed as a duplicate of #{first['number']}")
    assert step.api.comments_on(first["number"]) == []


def test_the_issue_is_found_past_the_first_page_of_issues(step: Step) -> None:
    for n in range(130):
        step.api.add_issue(
            f"Drift in e{n}", f"<!-- reconciler:drift-issue env=e{n} -->", labels=("drift",)
        )
    issue = opened(step, drifted(1))  # the 131st: on the second page of 100, oldest first
    step.issue(report(drifted(1), drifted(2)))
    assert [i["number"] for i in step.ours()] == [issue["number"]]
    assert len(step.api.comments_on(issue["number"])) == 1
    pages = [
        r["query"].get("page", "1") for r in step.api.seen("GET") if r["path"].endswith("/issues")
    ]
    assert pages.count("2") >= 2  # each run read the second page


# -- a race of two runs -----------------------------------------------------------------------


def test_two_runs_at_once_leave_one_open_issue(step: Step) -> None:
    """Both runs list the issues before either opens one (the fake holds the first listing of
    each until both have asked), so both open one: each then finds the older and keeps it."""
    arrived: list[int] = []
    both = asyncio.Event()

    async def hold(method: str, path: str, query: dict[str, str]) -> None:
        if method == "GET" and path.endswith("/issues") and len(arrived) < 2:
            arrived.append(1)
            if len(arrived) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), timeout=60)

    step.api.hold = hold
    path = step.write(report(drifted(1)))
    argv = [
        sys.executable,
        "-m",
        "reconciler",
        "github",
        "drift-issue",
        "--env",
        "development",
        str(path),
        "--repo",
        str(step.repo),
    ]
    env = {**os.environ, **step.environ()}
    env.pop("GITHUB_OUTPUT")
    runs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(step.api.issues) == 2  # each opened one
    [kept] = step.ours()
    duplicate = next(i for i in step.api.issues if i["number"] != kept["number"])
    assert kept["number"] < duplicate["number"]
    assert duplicate["state"] == "closed"
    assert all(
        c["body"].startswith(f"Closed as a duplicate of #{kept['number']}")
        for c in step.api.comments_on(duplicate["number"])
    )
    assert f"`{BASE}.1`" in kept["body"]
    assert step.api.comments_on(kept["number"]) == []  # the same records: no comment


# -- a rotating drift check -------------------------------------------------------------------


def in_part(part: Part, *, avoid: Part) -> int:
    """A record number whose OID is in `part` of the rotation and not in `avoid`."""
    return next(
        n for n in range(1, 500) if part.holds(f"{BASE}.{n}") and not avoid.holds(f"{BASE}.{n}")
    )


def test_a_rotating_check_keeps_what_it_did_not_look_at(step: Step) -> None:
    monday, tuesday = Part(0, 3), Part(1, 3)
    a = in_part(monday, avoid=tuesday)
    b = in_part(tuesday, avoid=monday)
    issue = opened(step, *[drifted(a)])
    step.issue(report(drifted(a), part=monday))

    # Tuesday's part is clean, but record a is not in it: the issue stays, a with it.
    result = step.issue(report(part=tuesday))
    assert step.outputs["outcome"] == "unchanged", result.output
    [now] = step.ours()
    assert f"`{BASE}.{a}`" in now["body"]
    assert "Not checked by the last run, which checked another part of the rotation" in now["body"]
    assert "part 2 of 3 of the rotation" in now["body"]
    assert step.api.comments_on(issue["number"]) == []

    # Tuesday finds b: added to what Monday found.
    step.issue(report(drifted(b), part=tuesday))
    [now] = step.ours()
    assert f"`{BASE}.{a}`" in now["body"]
    assert f"`{BASE}.{b}`" in now["body"]

    # Monday again, a repaired: a goes, b (not checked) stays.
    step.issue(report(part=monday))
    [now] = step.ours()
    assert f"`{BASE}.{a}`" not in now["body"]
    assert f"`{BASE}.{b}`" in now["body"]
    # Tuesday again, b repaired: nothing left, closed.
    step.issue(report(part=tuesday))
    assert step.ours() == []
    assert step.api.issue(issue["number"])["state"] == "closed"


def test_tracking_keeps_when_a_record_was_first_found() -> None:
    monday = parse_report(json.dumps(report(drifted(1))), shown="r")
    first = tracked([], monday, now="2025-06-01T06:17:00Z")
    later = tracked(first, monday, now="2025-06-02T06:17:00Z")
    assert [(t.found_at, t.checked_at) for t in later] == [
        ("2025-06-01T06:17:00Z", "2025-06-02T06:17:00Z")
    ]


# -- limits and damage ------------------------------------------------------------------------


def test_a_huge_drift_fits_github_limits_and_keeps_every_record_for_the_next_run(
    step: Step,
) -> None:
    many = [drifted(n, city="Verona " * 40) for n in range(1, 1501)]
    result = step.issue(report(*many, checked=1500))
    assert result.exit_code == 0, result.output
    [issue] = step.ours()
    assert len(issue["body"]) <= ISSUE_LIMIT
    assert "more records, listed in the run's summary" in issue["body"]
    assert "do not fit in an issue" in issue["body"]
    kept = read_state(issue["body"])
    assert len(kept) == 1500
    assert len(state_marker(kept)) <= STATE_LIMIT + 50
    # The same report again: the same records, so no comment.
    step.issue(report(*many, checked=1500))
    assert step.api.comments_on(issue["number"]) == []


def test_a_body_edited_by_hand_is_written_anew(step: Step) -> None:
    issue = opened(step, drifted(1))
    step.api.issues[0]["body"] = MARKER + "\nsomeone tidied this up"
    result = step.issue(report(drifted(1)))
    assert result.exit_code == 0, result.output
    [now] = step.ours()
    assert now["number"] == issue["number"]
    assert read_state(now["body"])[0].drift.identity == f"{BASE}.1"


def test_a_report_of_another_environment_or_no_report_is_refused(step: Step) -> None:
    wrong = step.issue(report(drifted(1), env="production"))
    assert wrong.exit_code == 1
    assert "is the drift report of production, not of development" in wrong.output
    path = step.write({"drift": "nope"}, "broken.json")
    args = ["--repo", str(step.repo), "github", "drift-issue", "--env", "development", str(path)]
    broken = CliRunner().invoke(cli, args, env=step.environ())
    assert broken.exit_code == 1
    assert "is not a drift report" in broken.output
    assert "reconciler drift --format json --env ENV" in broken.output
    assert step.api.issues == []


def test_drift_verdict_shows_the_report_and_says_its_verdict(step: Step) -> None:
    path = step.write(report(drifted(1)))
    (step.root / "output").write_text("")
    (step.root / "summary.md").write_text("")
    args = ["--repo", str(step.repo), "github", "drift-verdict", "--env", "development"]
    result = CliRunner().invoke(
        cli, [*args, "--exit-code", "2", "--report", str(path)], env=step.environ()
    )
    assert result.exit_code == 2, result.output
    assert f"! organization {BASE}.1: different in the directory" in result.output
    assert "::error title=Drift in development::" in result.output
    assert f"| `{BASE}.1` | different in the directory |" in (step.root / "summary.md").read_text()
    assert step.outputs["verdict"] == "drift"
