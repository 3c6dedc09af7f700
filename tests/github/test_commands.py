"""`reconciler github`: the REST client, the plan comment, the review check, the summaries and
drift's gate, against a fake GitHub API served on 127.0.0.1 (tests/fake_github.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from factories import PARENT, big_create_plan, facility_payload, settle
from fake_github import BOT, FORK_TOKEN, MEMBERS_TOKEN, WRITE_TOKEN, FakeGitHub, served
from sandbox_server import example_repo, set_key, write_settings

from reconciler import reconcile
from reconciler.cli import cli
from reconciler.formats.jsontext import pack
from reconciler.github import (
    COMMENT_LIMIT,
    PLAN_MARKER,
    EnvPlan,
    GitHub,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    find_plan_comment,
    plan_comment,
    read_plan_comment,
)
from reconciler.github.gitrepo import records_commit
from reconciler.github.review import differences, rebuilt
from reconciler.plan import Plan
from reconciler.reconcile.workspace import Workspace

REPOSITORY = "northwind/redox-records"
HEAD = "a" * 40
MERGE = "b" * 40
RUN_URL = f"https://github.com/{REPOSITORY}/actions/runs/77"


@pytest.fixture
def fake() -> Iterator[tuple[FakeGitHub, str]]:
    state = FakeGitHub(REPOSITORY)
    with served(state) as url:
        yield state, url


def client(url: str, *, token: str = WRITE_TOKEN, **options: Any) -> GitHub:
    return GitHub(repository=REPOSITORY, token=token, api_url=url, **options)


# -- the client -----------------------------------------------------------------------------


def test_listings_follow_the_link_header_to_every_page(fake: tuple[FakeGitHub, str]) -> None:
    state, url = fake
    for n in range(250):
        state.add_comment(7, f"comment {n}")
    with client(url) as github:
        comments = github.issue_comments(7)
    assert [c["body"] for c in comments] == [f"comment {n}" for n in range(250)]
    pages = [r["query"].get("page", "1") for r in state.seen("GET")]
    assert pages == ["1", "2", "3"]


def test_a_404_names_what_is_missing(fake: tuple[FakeGitHub, str]) -> None:
    _, url = fake
    with client(url) as github, pytest.raises(GitHubNotFound) as raised:
        github.workflow_runs("nightly.yml")
    assert "GET /repos/northwind/redox-records/actions/workflows/nightly.yml/runs" in str(
        raised.value
    )
    assert raised.value.status == 404
    other = GitHub(repository="northwind/elsewhere", token=WRITE_TOKEN, api_url=url)
    with other, pytest.raises(GitHubNotFound):
        other.issue_comments(1)


def test_a_fork_token_gets_403_saying_why_without_the_token(fake: tuple[FakeGitHub, str]) -> None:
    state, url = fake
    with client(url, token=FORK_TOKEN) as github:
        assert github.issue_comments(3) == []  # reading works
        with pytest.raises(GitHubForbidden) as raised:
            github.create_comment(3, "a plan")
    message = str(raised.value)
    assert "403: Resource not accessible by integration" in message
    assert "fork" in message
    assert FORK_TOKEN not in message
    assert state.comments_on(3) == []


def test_a_bad_token_is_refused_without_printing_it(fake: tuple[FakeGitHub, str]) -> None:
    _, url = fake
    with client(url, token="ghp_secret-value") as github, pytest.raises(GitHubError) as raised:
        github.issue_comments(1)
    assert "check GITHUB_TOKEN" in str(raised.value)
    assert "secret-value" not in str(raised.value)


def test_5xx_answers_are_retried_with_backoff(fake: tuple[FakeGitHub, str]) -> None:
    state, url = fake
    state.add_comment(4, "kept")
    waits: list[float] = []
    state.fail_next(502, 503, 500)
    with client(url, sleep=waits.append, backoff=0.5) as github:
        assert [c["body"] for c in github.issue_comments(4)] == ["kept"]
    assert waits == [0.5, 1.0, 2.0]

    state.fail_next(502, 502, 502)
    with client(url, sleep=waits.append, retries=2) as github, pytest.raises(GitHubError) as raised:
        github.issue_comments(4)
    assert "GitHub failed GET /repos/northwind/redox-records/issues/4/comments (502" in str(
        raised.value
    )


def test_the_token_is_never_sent_off_the_api_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[{"id": 1}], headers={"link": '<https://evil.example/x?page=2>; rel="next"'}
        )

    github = GitHub(
        repository=REPOSITORY, token="t", transport=httpx.MockTransport(handler), retries=0
    )
    with github, pytest.raises(GitHubError, match=r"outside https://api\.github\.com"):
        github.issue_comments(1)
    with pytest.raises(GitHubError, match=r"must be https://"):
        GitHub(repository=REPOSITORY, token="t", api_url="http://github.example")
    with pytest.raises(GitHubError, match="GITHUB_TOKEN is not set"):
        GitHub(repository=REPOSITORY, token=None)


# -- the plan comment -----------------------------------------------------------------------


def creates(env: str, count: int, *, start: int = 0) -> Plan:
    """A plan of `env` creating facilities start .. start+count-1."""
    made = big_create_plan(start + count)
    return replace(made, environment=env, changes=made.changes[start:])


def test_the_comment_carries_each_environments_digest_and_reads_back() -> None:
    plans = [EnvPlan("development", creates("development", 3)), EnvPlan("production", None, "x")]
    comment = plan_comment(plans, head_sha=HEAD, run_url=RUN_URL)
    body = comment.body
    assert body.startswith(PLAN_MARKER + "\n")
    assert "## reconciler plan for aaaaaaa" in body
    assert "`reconciler plan --env production` failed (exit 1)" in body
    back = read_plan_comment({"id": 9, "body": body, "html_url": "u"})
    digest = plans[0].plan.digest  # type: ignore[union-attr]
    assert back.digests == {"development": digest}
    assert back.head_sha == HEAD
    assert rebuilt("development", back.changes["development"]).digest == digest
    assert "production" not in back.changes
    assert comment.shortened == ()
    assert "reconciler:reviewed-plan" not in comment.summary


def test_plans_too_long_for_one_comment_share_it_keeping_their_digests() -> None:
    plans = [EnvPlan(env, creates(env, 60)) for env in ("development", "production")]
    comment = plan_comment(plans, head_sha=HEAD, run_url=RUN_URL)
    body = comment.body
    assert len(body) <= COMMENT_LIMIT
    assert comment.shortened == ("development", "production")
    assert body.count(f"see the log of [this check]({RUN_URL})") == 2
    back = read_plan_comment({"id": 1, "body": body})
    assert back.digests == {p.environment: p.plan.digest for p in plans}  # type: ignore[union-attr]
    assert set(back.changes) == {"development", "production"}


def test_past_the_limit_each_plan_keeps_its_headline_and_digest() -> None:
    envs = [f"region-{n}" for n in range(8)]
    error = "a long reason\n" * 2000
    plans = [EnvPlan(env, creates(env, 300), error) for env in envs]
    comment = plan_comment(plans, head_sha=HEAD, run_url=RUN_URL)
    body = comment.body
    assert len(body) <= COMMENT_LIMIT
    assert "The plans are too long for one comment" in body
    assert len(re.findall(r"\*\*Plan: 300 to create", body)) == 8
    assert body.count("failed (exit 1): a long reason") == 8
    assert comment.shortened == tuple(envs)
    back = read_plan_comment({"id": 1, "body": body})
    assert back.digests == {p.environment: p.plan.digest for p in plans}  # type: ignore[union-attr]
    # The job summary keeps every plan in full.
    assert len(comment.summary) > COMMENT_LIMIT


def test_a_long_failure_is_cut_and_the_caution_says_which_plan_failed() -> None:
    error = "orgs/x.yaml, line 3: nmae is not a field\n" * 1000
    comment = plan_comment([EnvPlan("development", None, error)], head_sha=HEAD, run_url=RUN_URL)
    assert "> `reconciler plan --env development` failed (exit 1)" in comment.body
    assert "more characters in the log" in comment.body
    assert len(comment.body) < 12_000


def test_a_ledger_change_is_cautioned_at_the_top() -> None:
    plans = [EnvPlan("development", creates("development", 1))]
    body = plan_comment(plans, head_sha=HEAD, run_url=RUN_URL, ledger_changed=True).body
    assert "changes `ledger/`, `audit/` or `.reconciler/`, which only reconciler writes" in body


def test_only_the_bots_marked_comment_is_the_plan_comment() -> None:
    comments = [
        {"id": 1, "user": {"login": "dana"}, "body": f"{PLAN_MARKER} copied by a person"},
        {"id": 2, "user": {"login": BOT}, "body": "another bot comment"},
        {"id": 3, "user": {"login": BOT}, "body": f"{PLAN_MARKER}\n## reconciler plan"},
    ]
    found = find_plan_comment(comments)
    assert found is not None
    assert found["id"] == 3


def test_a_tampered_embedded_plan_is_not_trusted() -> None:
    plan = creates("development", 2)
    body = plan_comment([EnvPlan("development", plan)], head_sha=HEAD, run_url=RUN_URL).body
    other = creates("development", 2, start=5).digest
    tampered = body.replace(f"env=development {plan.digest}", f"env=development {other}")
    back = read_plan_comment({"id": 1, "body": tampered})
    assert back.digests == {"development": other}
    assert back.changes == {}


def test_differences_name_what_is_new_gone_and_different() -> None:
    reviewed = creates("development", 3)
    changes = list(reviewed.changes[1:])
    changes[0] = replace(
        changes[0],
        packed_after=pack(facility_payload(f"{PARENT}.1", "Northwind Facility 1", city="Verona")),
    )
    now = replace(reviewed, changes=(*changes, *creates("development", 1, start=9).changes))
    found = {(d.status, d.identity): d.detail for d in differences(reviewed, now)}
    assert set(found) == {
        ("changed", f"{PARENT}.1"),
        ("added", f"{PARENT}.9"),
        ("removed", f"{PARENT}.0"),
    }
    assert '`Address.City`: "Madison" → "Verona"' in found[("changed", f"{PARENT}.1")]


# -- the commands, as a workflow step runs them ---------------------------------------------


@dataclass
class Step:
    """A workflow step's surroundings: the runner's files and variables."""

    root: Path
    url: str
    token: str = WRITE_TOKEN
    members_token: str | None = None  # GITHUB_MEMBERS_TOKEN: reads the organization's teams
    event_name: str = "pull_request"

    def run(self, *args: str, event: dict[str, Any] | None = None, repo: Path) -> Result:
        (self.root / "event.json").write_text(json.dumps(event or {}))
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("REDOX_")}
        env.update(
            {
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_TOKEN": self.token,
                "GITHUB_API_URL": self.url,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "77",
                "GITHUB_ACTOR": "dana",
                "GITHUB_EVENT_NAME": self.event_name,
                "GITHUB_MEMBERS_TOKEN": self.members_token,
                "GITHUB_EVENT_PATH": str(self.root / "event.json"),
                "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
                "GITHUB_OUTPUT": str(self.root / "output"),
                "NO_COLOR": "1",
            }
        )
        for name in ("summary.md", "output"):
            (self.root / name).write_text("")
        result = CliRunner().invoke(cli, ["--repo", str(repo), "github", *args], env=env)
        assert "Traceback" not in result.output, result.output
        return result

    @property
    def summary(self) -> str:
        return (self.root / "summary.md").read_text()

    @property
    def outputs(self) -> dict[str, str]:
        lines = (self.root / "output").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


def pr_event(number: int, head: str = HEAD, head_repo: str = REPOSITORY) -> dict[str, Any]:
    return {
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head, "repo": {"full_name": head_repo}}},
    }


@pytest.fixture
def step(tmp_path: Path, fake: tuple[FakeGitHub, str]) -> Step:
    folder = tmp_path / "runner"
    folder.mkdir()
    return Step(folder, fake[1])


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return example_repo(tmp_path / "records")


ENVS = ("--env", "development", "--env", "production")


def test_plan_comment_posts_once_then_updates(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    state.add_comment(12, f"{PLAN_MARKER} quoted by a person", login="dana")
    first = step.run("plan-comment", *ENVS, event=pr_event(12), repo=records)
    assert first.exit_code == 0, first.output
    assert "Posted the plan comment" in first.output
    assert "### reconciler plan: `production`" in step.summary
    second = step.run("plan-comment", *ENVS, event=pr_event(12, "c" * 40), repo=records)
    assert second.exit_code == 0, second.output
    assert "Updated the plan comment" in second.output
    ours = [c for c in state.comments_on(12) if c["user"]["login"] == BOT]
    assert len(ours) == 1
    reviewed = read_plan_comment(ours[0])
    assert reviewed.head_sha == "c" * 40
    assert ours[0]["body"].count("```mermaid") == 2  # each plan's hierarchy flowchart
    for env in ("development", "production"):
        assert reviewed.digests[env] == reconcile.plan(Workspace(records, env)).digest
    assert [r["method"] for r in state.seen() if r["method"] != "GET"] == ["POST", "PATCH"]


def test_plan_comment_of_a_fork_goes_to_the_summary_only(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    step.token = FORK_TOKEN
    result = step.run("plan-comment", *ENVS, event=pr_event(5, head_repo="fork/x"), repo=records)
    assert result.exit_code == 0, result.output
    assert "::notice title=Plan not commented::" in result.output
    assert state.seen() == []
    assert "<!-- reconciler:plan-digest env=development sha256:" in step.summary


def test_plan_comment_fails_after_commenting_when_a_plan_fails(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    set_key(records / "orgs" / "rockford-family-medicine.yaml", "zip", "'ABCDE'")
    result = step.run("plan-comment", *ENVS, event=pr_event(8), repo=records)
    assert result.exit_code == 1
    assert "::error title=Plan failed::reconciler plan failed for: development production" in (
        result.output
    )
    [comment] = state.comments_on(8)
    assert "rockford-family-medicine.yaml" in comment["body"]


def merged(state: FakeGitHub, number: int, head: str = HEAD, merge: str = MERGE) -> None:
    state.open_pull(number, head)
    state.merge_pull(number, merge)


def test_check_reviewed_passes_the_reviewed_digest_on(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    step.run("plan-comment", *ENVS, event=pr_event(21), repo=records)
    merged(state, 21)
    result = step.run("check-reviewed", "--env", "production", "--commit", MERGE, repo=records)
    assert result.exit_code == 0, result.output
    digest = reconcile.plan(Workspace(records, "production")).digest
    assert step.outputs == {"digest": digest, "pr": "21", "overrides": "", "approved_by": ""}
    assert "The plan for `production` is the one reviewed on #21" in step.summary
    assert len(state.comments_on(21)) == 1


def test_check_reviewed_refuses_a_changed_plan_and_tells_the_pull_request_what_changed(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    step.run("plan-comment", *ENVS, event=pr_event(22), repo=records)
    reviewed = reconcile.plan(Workspace(records, "development")).digest
    set_key(records / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    merged(state, 22)
    result = step.run("check-reviewed", "--env", "development", "--commit", MERGE, repo=records)
    assert result.exit_code == 1
    now = reconcile.plan(Workspace(records, "development")).digest
    assert "::error title=Not applied to development::" in result.output
    assert reviewed in result.output
    assert now in result.output
    assert step.outputs["digest"] == now
    told = state.comments_on(22)[-1]["body"]
    assert told.startswith("<!-- redox-reconciler-refused env=development -->")
    assert f"| reviewed | `{reviewed}` |" in told
    assert f"| at merge | `{now}` |" in told
    assert re.search(r"\| differs \| create organization \| `[0-9.]+` \| Northwind Rockford", told)
    assert '`Address.City`: "Rockford" → "Loves Park"' in told
    assert "skip-review-check" in told


def test_check_reviewed_without_the_embedded_plan_gives_both_digests_and_the_new_plan(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    step.run("plan-comment", *ENVS, event=pr_event(23), repo=records)
    comment = state.comments[-1]
    comment["body"] = re.sub(r"<!-- reconciler:reviewed-plan [^>]+-->\n", "", comment["body"])
    set_key(records / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    merged(state, 23)
    result = step.run("check-reviewed", "--env", "development", "--commit", MERGE, repo=records)
    assert result.exit_code == 1
    told = state.comments_on(23)[-1]["body"]
    assert "only the digests can be compared" in told
    assert "<details><summary>The plan at merge</summary>" in told
    assert "Loves Park" in told


@pytest.mark.parametrize("case", ["no pull request", "stale head", "no comment"])
def test_check_reviewed_refuses_what_was_never_reviewed(
    case: str, step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    if case != "no comment":
        step.run("plan-comment", *ENVS, event=pr_event(24), repo=records)
    if case == "stale head":
        merged(state, 24, head="c" * 40)
    elif case == "no comment":
        merged(state, 24)
    result = step.run("check-reviewed", "--env", "development", "--commit", MERGE, repo=records)
    assert result.exit_code == 1
    expected = {
        "no pull request": "belongs to no merged pull request",
        "stale head": "the plan comment of #24 is for aaaaaaa, but #24 was merged at ccccccc",
        "no comment": "#24 has no plan comment",
    }[case]
    assert expected in result.output
    assert "skip-review-check" in result.output


def test_check_reviewed_skipped_by_hand_says_so_and_needs_no_pull_request(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    result = step.run(
        "check-reviewed",
        "--env",
        "development",
        "--commit",
        MERGE,
        "--skip-check",
        "true",
        repo=records,
    )
    assert result.exit_code == 0, result.output
    assert step.outputs["digest"] == reconcile.plan(Workspace(records, "development")).digest
    assert "**The review check was skipped**" in step.summary
    assert "by @dana with `skip-review-check`" in step.summary
    assert state.seen() == []


def test_apply_summary_names_the_pull_request_and_digest(step: Step, records: Path) -> None:
    log = step.root / "apply.log"
    log.write_text("created: organization:x\nApplied 3 changes.\nsecret noise\n")
    digest = "sha256:" + "1" * 64
    ok = step.run(
        "apply-summary",
        "--env",
        "development",
        "--exit-code",
        "0",
        "--log",
        str(log),
        "--pr",
        "21",
        "--digest",
        digest,
        repo=records,
    )
    assert ok.exit_code == 0
    assert f"Applied the plan reviewed on #21: `{digest}`." in step.summary
    assert "secret noise" not in step.summary
    # What the read-back found and what ownership refused are kept, as failures are.
    log.write_text(
        "Apply complete: 1 applied (0 already in the directory), 0 failed, 1 refused: created "
        "elsewhere, 0 skipped.\nVerified: 0 of 1.\n  unverified: organization:1.2: missing\n"
        "  refused: created elsewhere: create organization:1.3: already in the directory\n"
    )
    kept = step.run(
        "apply-summary", "--env", "development", "--exit-code", "1", "--log", str(log), repo=records
    )
    assert kept.exit_code == 1
    for line in log.read_text().splitlines():
        assert line in step.summary
    failed = step.run(
        "apply-summary",
        "--env",
        "development",
        "--exit-code",
        "1",
        "--log",
        str(log),
        repo=records,
    )
    assert failed.exit_code == 1
    assert "::error title=Apply to development failed::" in failed.output


def test_sync_running_sees_queued_and_running_syncs(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    state.add_run("completed")
    state.add_run("completed", workflow="plan.yml")
    idle = step.run("sync-running", repo=records)
    assert idle.exit_code == 0, idle.output
    assert step.outputs["running"] == "false"
    statuses = {r["query"].get("status") for r in state.seen()}
    assert statuses == {"in_progress", "queued", "waiting", "requested", "pending"}
    for status in ("waiting", "queued"):
        state.add_run(status)
    busy = step.run("sync-running", repo=records)
    assert step.outputs["running"] == "true"
    assert "::notice title=Drift not checked::a sync is running or queued" in busy.output


def test_drift_verdict_is_held_while_a_sync_ran(
    step: Step, fake: tuple[FakeGitHub, str], records: Path
) -> None:
    state, _ = fake
    args = ("drift-verdict", "--env", "production", "--since", "2025-06-01T06:17:00Z")
    drifted = step.run(*args, "--exit-code", "2", repo=records)
    assert drifted.exit_code == 2
    assert "::error title=Drift in production::" in drifted.output
    assert step.run(*args, "--exit-code", "0", repo=records).exit_code == 0
    # A sync created after the drift check started (and finished since): no verdict.
    state.add_run("completed", created_at="2025-06-01T06:18:30Z")
    held = step.run(*args, "--exit-code", "2", repo=records)
    assert held.exit_code == 0
    assert "::notice title=No drift verdict for production::" in held.output
    broken = step.run(*args, "--exit-code", "1", repo=records)
    assert broken.exit_code == 1


def test_a_step_without_a_token_says_how_to_give_one(step: Step, records: Path) -> None:
    step.token = ""
    result = step.run("sync-running", repo=records)
    assert result.exit_code == 1
    assert "GITHUB_TOKEN is not set: give the step `env: GITHUB_TOKEN: ${{ github.token }}`" in (
        result.output
    )


class GitRepo:
    """A git repository in a tmp folder, committed to by a person."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            check=True,
            env={
                **os.environ,
                "GIT_AUTHOR_NAME": "d",
                "GIT_AUTHOR_EMAIL": "d@x",
                "GIT_COMMITTER_NAME": "d",
                "GIT_COMMITTER_EMAIL": "d@x",
            },
        )
        return done.stdout.strip()

    def commit(self, path: str, text: str, message: str) -> str:
        """Write `text` to `path`, commit it; the new commit's SHA."""
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text)
        self.git("add", path)
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def test_a_run_by_hand_finds_the_merge_that_last_changed_records(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "main")
    first = repo.commit("orgs/a.yaml", "a: 1\n", "records")
    repo.git("checkout", "-q", "-b", "change")
    repo.commit("orgs/a.yaml", "a: 2\n", "the pull request's commit")
    repo.git("checkout", "-q", "main")
    repo.commit("docs/notes.md", "notes\n", "docs")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #3", "change")
    merge = repo.git("rev-parse", "HEAD")
    ledger = repo.commit("ledger/development.json", "{}\n", "ledger: development [skip ci]")
    assert records_commit(repo.root, ledger) == merge
    assert records_commit(repo.root, merge) == merge
    assert records_commit(repo.root, first) == first
    assert records_commit(tmp_path, "abc") == "abc"  # not a repository: as given


# -- approvals and policies at sync time (SPEC 5, 8) -----------------------------------------

ADMINS = {"production": {"count": 1, "from": ["@acme/admins"]}}
SIGN_OFF = {
    "name": "deactivation-sign-off",
    "level": "soft",
    "approvers": ["@acme/admins"],
    "deny": 'change.action == "deactivate"',
    "message": "Deactivating a listing needs sign-off by the directory admins.",
}
ROUTES = {
    "name": "production-routes-inbound",
    "level": "hard",
    "environments": ["production"],
    "deny": 'change.kind == "organization" && change.action == "create" '
    "&& (!has(change.after.DestinationID) || change.after.DestinationID == null)",
    "message": "Production records need a destination_id.",
}


@pytest.fixture
def team(fake: tuple[FakeGitHub, str], step: Step) -> FakeGitHub:
    """@acme/admins: bob active, carol invited (pending); the step reads it with a members
    token."""
    state, _ = fake
    state.teams["acme/admins"] = {"bob": "active", "carol": "pending"}
    step.members_token = MEMBERS_TOKEN
    return state


def reviewed_and_merged(step: Step, state: FakeGitHub, records: Path, number: int) -> None:
    step.run("plan-comment", *ENVS, event=pr_event(number), repo=records)
    merged(state, number)


def check(step: Step, records: Path, env: str = "production") -> Result:
    return step.run("check-reviewed", "--env", env, "--commit", MERGE, repo=records)


@pytest.mark.parametrize(
    ("reviews", "why"),
    [
        (
            [],
            "needs 1 approving review from @acme/admins on aaaaaaa (the head as merged), and has 0",
        ),
        ([("dana", "APPROVED", HEAD)], "is the pull request's author"),
        ([("eve", "APPROVED", HEAD)], "is not a member of @acme/admins"),
        ([("carol", "APPROVED", HEAD)], "their invitation to @acme/admins is still pending"),
        ([("bob", "APPROVED", "c" * 40)], "approved ccccccc, not aaaaaaa as merged"),
        ([("bob", "APPROVED", HEAD), ("bob", "CHANGES_REQUESTED", HEAD)], "changes requested"),
    ],
    ids=["no review", "the author", "a non-member", "pending", "an old commit", "then changes"],
)
def test_check_reviewed_refuses_without_an_approval_that_counts(
    step: Step,
    team: FakeGitHub,
    records: Path,
    reviews: list[tuple[str, str, str]],
    why: str,
) -> None:
    write_settings(records, approvals=ADMINS)
    reviewed_and_merged(step, team, records, 31)
    for login, state, commit in reviews:
        team.review(31, login, state, commit=commit)
    result = check(step, records)
    assert result.exit_code == 1, result.output
    assert "::error title=Not applied to production::" in result.output
    told = team.comments_on(31)[-1]["body"]
    assert told.startswith("<!-- redox-reconciler-refused env=production -->")
    assert "approval missing" in told
    assert why in told
    assert step.outputs["approved_by"] == ""


def test_check_reviewed_passes_a_team_members_approval_of_the_merged_head(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, approvals=ADMINS)
    reviewed_and_merged(step, team, records, 32)
    team.review(32, "eve", "COMMENTED", commit=HEAD)
    team.review(32, "bob", "APPROVED", commit=HEAD)
    result = check(step, records)
    assert result.exit_code == 0, result.output
    assert "Approved by @bob." in result.output
    assert step.outputs["approved_by"] == "bob"
    assert len(team.comments_on(32)) == 1  # only the plan comment: nothing to say
    # The membership was read with the members token, never the workflow's.
    org_reads = [r for r in team.seen() if r["path"].startswith("/orgs/")]
    assert org_reads
    assert {r["grant"] for r in org_reads} == {"members"}


def test_check_reviewed_never_takes_an_unreadable_membership_for_one(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    step.members_token = None  # github.token may not read the organization's teams
    write_settings(records, approvals=ADMINS)
    reviewed_and_merged(step, team, records, 33)
    team.review(33, "bob", "APPROVED", commit=HEAD)
    result = check(step, records)
    assert result.exit_code == 1
    assert "Team membership could not be read" in result.output
    assert "GITHUB_MEMBERS_TOKEN" in result.output
    told = team.comments_on(33)[-1]["body"]
    assert "could not be read (GitHub answered 403)" in told


def test_many_reviews_are_read_page_by_page(step: Step, team: FakeGitHub, records: Path) -> None:
    write_settings(records, approvals={"production": {"count": 1, "from": ["bob"]}})
    reviewed_and_merged(step, team, records, 34)
    for n in range(120):
        team.review(34, f"reviewer-{n}", "COMMENTED", commit=HEAD)
    team.review(34, "bob", "APPROVED", commit=HEAD)  # on the second page
    assert check(step, records).exit_code == 0
    pages = [r for r in team.seen("GET") if r["path"].endswith("/pulls/34/reviews")]
    assert [r["query"].get("page", "1") for r in pages] == ["1", "2"]


def deactivating(records: Path) -> None:
    """The production ledger holds every record; a pull request deactivates one."""
    settle(Workspace(records, "production"))
    set_key(records / "orgs" / "rockford-family-medicine.yaml", "active", "false")


def test_a_soft_policy_blocks_the_sync_until_one_of_its_approvers_approves(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, policies=[SIGN_OFF])
    deactivating(records)
    reviewed_and_merged(step, team, records, 35)
    team.review(35, "eve", "APPROVED", commit=HEAD)  # counts as a review, but is no approver
    refused = check(step, records)
    assert refused.exit_code == 1
    assert "soft policies are violated and not overridden: deactivation-sign-off" in (
        refused.output
    )
    told = team.comments_on(35)[-1]["body"]
    assert "needs an approving review by one of: @acme/admins" in told
    assert step.outputs["overrides"] == ""

    team.review(35, "bob", "APPROVED", commit=HEAD)
    passed = check(step, records)
    assert passed.exit_code == 0, passed.output
    assert "Soft policy deactivation-sign-off overridden by @bob." in passed.output
    assert step.outputs["overrides"] == "deactivation-sign-off"
    assert step.outputs["approved_by"] == "bob,eve"


def test_a_hard_policy_blocks_the_sync_whatever_the_approvals(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, policies=[ROUTES], approvals=ADMINS)
    reviewed_and_merged(step, team, records, 36)
    team.review(36, "bob", "APPROVED", commit=HEAD)
    result = check(step, records)
    assert result.exit_code == 1
    assert "hard policies are violated: production-routes-inbound" in result.output
    told = team.comments_on(36)[-1]["body"]
    assert "no approval overrides it" in told
    assert "Production records need a destination_id." in told
    assert check(step, records, "development").exit_code == 0  # not a development policy


def test_a_sync_by_hand_records_its_actor_and_overrides_only_as_an_approver(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, policies=[SIGN_OFF], approvals=ADMINS)
    deactivating(records)
    args = ("check-reviewed", "--env", "production", "--commit", MERGE, "--skip-check", "true")
    refused = step.run(*args, repo=records)  # dana is no admin
    assert refused.exit_code == 1
    assert "deactivation-sign-off" in refused.output
    team.teams["acme/admins"]["dana"] = "active"
    passed = step.run(*args, repo=records)
    assert passed.exit_code == 0, passed.output
    assert step.outputs["approved_by"] == "dana"
    assert step.outputs["overrides"] == "deactivation-sign-off"


def test_the_pull_request_check_waits_for_an_approver_and_a_review_turns_it_green(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, policies=[SIGN_OFF])
    deactivating(records)
    team.open_pull(37, HEAD)
    event = pr_event(37) | {
        "pull_request": {**pr_event(37)["pull_request"], "user": {"login": "dana"}}
    }
    pushed = step.run("plan-comment", *ENVS, event=event, repo=records)
    assert pushed.exit_code == 1
    assert "::error title=Approval needed in production::soft policy deactivation-sign-off" in (
        pushed.output
    )
    assert "one of @acme/admins" in pushed.output
    [comment] = team.comments_on(37)
    assert "deactivation-sign-off" in comment["body"]
    writes = [r for r in team.seen() if r["method"] != "GET"]

    team.review(37, "bob", "APPROVED", commit=HEAD)
    step.event_name = "pull_request_review"
    approved = step.run(
        "plan-comment", *ENVS, event=event | {"review": {"state": "approved"}}, repo=records
    )
    assert approved.exit_code == 0, approved.output
    assert "::notice title=Policy overridden in production::" in approved.output
    assert [r for r in team.seen() if r["method"] != "GET"] == writes  # the comment is kept
    assert team.comments_on(37) == [comment]


def test_the_pull_request_check_fails_on_a_hard_policy(
    step: Step, team: FakeGitHub, records: Path
) -> None:
    write_settings(records, policies=[ROUTES])
    result = step.run("plan-comment", *ENVS, event=pr_event(38), repo=records)
    assert result.exit_code == 1
    assert "::error title=Policy violated in production::hard policies production-routes" in (
        result.output
    )
    body = team.comments_on(38)[0]["body"]
    assert "#### Policies: 1 of 1 violated" in body
    assert "production-routes-inbound" in body


SUPERSEDED = "::notice title=Superseded::main has newer records than"


def test_a_sync_leaves_newer_records_on_main_to_the_newer_push(step: Step, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "main")
    pushed = repo.commit("orgs/a.yaml", "a: 1\n", "records")

    def gate() -> tuple[int, dict[str, str], bool]:
        run = step.run("superseded", "--commit", pushed, repo=repo.root)
        return run.exit_code, step.outputs, SUPERSEDED in run.output

    assert gate() == (0, {"apply": "true"}, False)  # main is the pushed commit
    # What decides no plan moves on: the pushed commit's records are still main's.
    repo.commit("ledger/development.json", "{}\n", "ledger: development [skip ci]")
    repo.commit("docs/notes.md", "notes\n", "docs")
    assert gate() == (0, {"apply": "true"}, False)
    # A change made and undone leaves the same records.
    repo.commit("orgs/a.yaml", "a: 2\n", "change")
    repo.commit("orgs/a.yaml", "a: 1\n", "undo")
    assert gate() == (0, {"apply": "true"}, False)
    # Newer records of each kind, or newer settings: the newer push's run applies them.
    for path in ("orgs/b.yaml", "providers/p.yaml", "reconciler.yaml"):
        repo.git("reset", "-q", "--hard", pushed)
        repo.commit(path, "x: 1\n", f"newer {path}")
        assert gate() == (0, {"apply": "false"}, True), path


def test_a_sync_that_cannot_compare_fails_instead_of_skipping(step: Step, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "main")
    repo.commit("orgs/a.yaml", "a: 1\n", "records")

    run = step.run("superseded", "--commit", "c" * 40, repo=repo.root)

    assert run.exit_code == 1
    assert f"Error: git cannot compare the records of {'c' * 12} with HEAD: " in run.output
    assert "fetch-depth: 0" in run.output
    assert step.outputs == {}
