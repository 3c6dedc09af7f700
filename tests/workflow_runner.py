"""Run a GitHub Actions workflow's jobs locally, the way a runner would, for the tests.

Every `run:` step runs as bash in a clone of a local "origin" repository, with the variables a
runner sets (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH, GITHUB_API_URL,
...) and its `env:` with every `${{ }}` expression evaluated against contexts the test supplies
(secrets, vars, the event). `uses:` steps are done by hand: actions/checkout clones origin,
actions/setup-python is this interpreter's bin directory on PATH, the Pages actions keep the
uploaded site in the run's folder (pages-artifact/); any other action is an
error, so that a new one cannot slip past the tests. Jobs run in `needs:` order; a matrix
expands into one job per combination; a job that calls a reusable workflow of the same
repository (`uses: ./.github/workflows/x.yml` with `with:` inputs) runs that workflow's jobs
with those inputs. Only what these workflows use is implemented.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import session_bytecode
import yaml

STEP_TIMEOUT = 120.0  # a guard against a hung step, not a measurement
VENV_BIN = Path(sys.executable).parent


# -- expressions -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


class ExpressionError(Exception):
    """An expression this evaluator does not understand."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _text(value: Any) -> str:
    """A value as `${{ }}` interpolation writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2)
    return str(value)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return float("nan")
    return float("nan")


def _equal(left: Any, right: Any) -> bool:
    # GitHub compares strings case-insensitively and coerces mismatched types to numbers.
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right) or (left is None and right is None):
        return bool(left == right)
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return left is right
    return _number(left) == _number(right)


class _Parser:
    """Recursive descent over GitHub's expression grammar (the parts these workflows use)."""

    def __init__(self, text: str, context: Mapping[str, Any], status: Mapping[str, bool]):
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.context = context
        self.status = status

    def parse(self) -> Any:
        value = self.or_()
        if self.at != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.at][1]!r} in {self.text!r}")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ExpressionError(f"{self.text!r} ends too early")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {token[1]!r} in {self.text!r}")
        self.at += 1
        return token

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> Any:
        value = self.equality()
        while self.peek() == "&&":
            self.take()
            right = self.equality()
            value = value and right
        return value

    def equality(self) -> Any:
        value = self.comparison()
        while self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.comparison()
            value = _equal(value, right) if op == "==" else not _equal(value, right)
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in ("<", "<=", ">", ">="):
            op = self.take()[1]
            a, b = _number(value), _number(self.unary())
            value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not self.unary()
        return self.postfix(self.primary())

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            return self.call(text, args)
        return self.context.get(text)

    def postfix(self, value: Any) -> Any:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"unsupported property {name!r} in {self.text!r}")
                value = value.get(name) if isinstance(value, dict) else None
            else:
                index = self.or_()
                self.take("]")
                if isinstance(value, dict):
                    value = value.get(_text(index))
                elif isinstance(value, list) and isinstance(index, float):
                    value = value[int(index)] if 0 <= index < len(value) else None
                else:
                    value = None
        return value

    def call(self, name: str, args: list[Any]) -> Any:
        lowered = name.lower()
        if lowered in ("success", "failure", "always", "cancelled"):
            return self.status[lowered]
        if lowered == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_equal(item, needle) for item in haystack)
            return _text(needle).lower() in _text(haystack).lower()
        if lowered == "startswith":
            return _text(args[0]).lower().startswith(_text(args[1]).lower())
        if lowered == "endswith":
            return _text(args[0]).lower().endswith(_text(args[1]).lower())
        if lowered == "format":
            template, *rest = args
            return re.sub(r"\{(\d+)\}", lambda m: _text(rest[int(m.group(1))]), template)
        if lowered == "tojson":
            return json.dumps(args[0], indent=2)
        if lowered == "fromjson":
            return json.loads(args[0])
        raise ExpressionError(f"function {name}() is not implemented by the test runner")


def evaluate(text: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    """The value of one expression (the text inside `${{ }}`)."""
    return _Parser(text, context, status).parse()


_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def value_of(value: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    """A `with:` value: one whole `${{ }}` keeps its type (a boolean stays a boolean)."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\$\{\{(.*)\}\}", value.strip(), re.DOTALL)
        if whole and "${{" not in whole.group(1):
            return evaluate(whole.group(1), context, status)
        return interpolate(value, context, status)
    return value


def interpolate(value: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> str:
    """A string with every `${{ }}` replaced by its value."""
    if not isinstance(value, str):
        return _text(value)
    return _INTERPOLATION.sub(lambda m: _text(evaluate(m.group(1), context, status)), value)


def condition(text: Any, context: Mapping[str, Any], status: Mapping[str, bool]) -> bool:
    """Whether an `if:` holds; without a status function it is `success() && (...)`."""
    if text is None:
        return status["success"]
    if isinstance(text, bool):
        return text and status["success"]
    source = str(text).strip()
    whole = re.fullmatch(r"\$\{\{(.*)\}\}", source, re.DOTALL)
    if whole:
        source = whole.group(1)
    value = evaluate(source, context, status)
    if not re.search(r"\b(success|failure|always|cancelled)\s*\(", source):
        return status["success"] and bool(value)
    return bool(value)


# -- results ---------------------------------------------------------------------------------


@dataclass
class StepResult:
    """One step as the runner saw it."""

    name: str
    id: str | None
    outcome: str  # success | failure | skipped
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    script: str = ""

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


@dataclass
class JobResult:
    """One job (one matrix combination): its steps, summary and workspace."""

    key: str
    name: str
    result: str  # success | failure | skipped
    matrix: dict[str, Any]
    steps: list[StepResult]
    summary: str
    workspace: Path | None
    environment: str | None

    def step(self, name_or_id: str) -> StepResult:
        """The step with this id, or whose name starts with this text."""
        for step in self.steps:
            if step.id == name_or_id or step.name.startswith(name_or_id):
                return step
        raise KeyError(f"no step {name_or_id!r} in job {self.name}: {[s.name for s in self.steps]}")

    @property
    def log(self) -> str:
        return "".join(f"## {s.name} [{s.outcome}]\n{s.log}" for s in self.steps)


@dataclass
class RunResult:
    """Every job of one workflow run."""

    jobs: list[JobResult]

    def job(self, key: str, **matrix: Any) -> JobResult:
        """The job with this key (and, for a matrix job, these matrix values)."""
        for job in self.jobs:
            if job.key == key and all(job.matrix.get(k) == v for k, v in matrix.items()):
                return job
        raise KeyError(f"no job {key} {matrix or ''}: {[(j.key, j.matrix) for j in self.jobs]}")

    @property
    def conclusion(self) -> str:
        return "failure" if any(j.result == "failure" for j in self.jobs) else "success"


# -- the runner ------------------------------------------------------------------------------


@dataclass
class Environment:
    """A GitHub deployment environment: its secrets and variables."""

    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)


@dataclass
class Runner:
    """Runs a workflow file's jobs for one event against a local origin repository."""

    origin: Path
    work: Path
    event_name: str
    event: dict[str, Any]
    sha: str
    ref: str
    repository: str = "northwind/redox-records"
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    fake_bin: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Called as before_step(job_key, step_name, workspace) just before each run step; the key
    # of a job that calls a reusable workflow stands for the called workflow's jobs.
    before_step: Callable[[str, str, Path], None] | None = None
    run_id: int = 4242
    api_url: str = "https://api.github.com"
    token: str = "ghs_fake-workflow-token"

    def run(self, workflow: Path) -> RunResult:
        """Run every job of `workflow` in `needs:` order and return what happened."""
        self.work.mkdir(parents=True, exist_ok=True)
        event_path = self.work / "event.json"
        event_path.write_text(json.dumps(self.event, indent=2), encoding="utf-8")
        inputs = dict(self.event.get("inputs") or {})
        return RunResult(self._jobs(workflow, event_path, inputs, prefix=""))

    def _jobs(
        self, workflow: Path, event_path: Path, inputs: dict[str, Any], *, prefix: str
    ) -> list[JobResult]:
        document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        jobs: dict[str, Any] = document["jobs"]
        done: dict[str, list[JobResult]] = {}
        results: list[JobResult] = []
        for key in _ordered(jobs):
            spec = jobs[key]
            needs = _list(spec.get("needs"))
            for matrix in _matrix(spec.get("strategy", {}).get("matrix")):
                if "uses" in spec:
                    found = self._call(workflow, key, spec, needs, done, event_path, inputs)
                else:
                    found = [
                        self._job(
                            document, key, spec, matrix, needs, done, event_path, inputs, prefix
                        )
                    ]
                done.setdefault(key, []).extend(found)
                results.extend(found)
        return results

    def _call(
        self,
        workflow: Path,
        key: str,
        spec: dict[str, Any],
        needs: list[str],
        done: dict[str, list[JobResult]],
        event_path: Path,
        inputs: dict[str, Any],
    ) -> list[JobResult]:
        """A job that calls a reusable workflow: its jobs, labelled with this job's key (one
        called job) or `key/called-key`."""
        uses = str(spec["uses"])
        if not uses.startswith("./.github/workflows/"):
            raise NotImplementedError(f"the test runner calls local workflows only, not {uses}")
        called_path = workflow.parent / Path(uses).name
        context, status = self._caller_context(event_path, key, needs, done, inputs)
        if not condition(spec.get("if"), context, status):
            return [JobResult(key, key, "skipped", {}, [], "", None, None)]
        called = yaml.safe_load(called_path.read_text(encoding="utf-8"))
        trigger = called.get("on", called.get(True)) or {}
        declared = (trigger.get("workflow_call") or {}).get("inputs") or {}
        given = {k: value_of(v, context, status) for k, v in (spec.get("with") or {}).items()}
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"{uses} declares no input {sorted(unknown)}")
        called_inputs = {}
        for name, declaration in declared.items():
            value = given.get(name, declaration.get("default"))
            if declaration.get("required") and value is None:
                raise ValueError(f"{uses} needs the input {name}")
            if declaration.get("type") == "boolean" and isinstance(value, str):
                value = value.lower() == "true"
            called_inputs[name] = value
        found = self._jobs(called_path, event_path, called_inputs, prefix=key)
        if len(called["jobs"]) == 1:
            for result in found:
                result.key = key
        else:
            for result in found:
                result.key = f"{key}/{result.key}"
        return found

    def _caller_context(
        self,
        event_path: Path,
        key: str,
        needs: list[str],
        done: dict[str, list[JobResult]],
        inputs: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, bool]]:
        needs_context = {
            name: {"result": _combined([r.result for r in done.get(name, [])]), "outputs": {}}
            for name in needs
        }
        ok = all(n["result"] == "success" for n in needs_context.values())
        context = {
            "github": self._github(event_path, self.work, key),
            "needs": needs_context,
            "inputs": inputs,
            "vars": dict(self.vars),
            "secrets": dict(self.secrets),
        }
        return context, {"success": ok, "failure": not ok, "always": True, "cancelled": False}

    def _github(self, event_path: Path, workspace: Path, job: str) -> dict[str, Any]:
        ref_name = self.ref.rsplit("/", 1)[-1] if self.ref.startswith("refs/heads/") else ""
        if self.ref.startswith("refs/pull/"):
            ref_name = self.ref.removeprefix("refs/")
        return {
            "event_name": self.event_name,
            "event": self.event,
            "event_path": str(event_path),
            "sha": self.sha,
            "ref": self.ref,
            "ref_name": ref_name,
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "server_url": "https://github.com",
            "api_url": self.api_url,
            "run_id": str(self.run_id),
            "run_number": "7",
            "run_attempt": "1",
            "actor": "octocat",
            "workflow": "",
            "job": job,
            "token": self.token,
            "workspace": str(workspace),
            "base_ref": self.event.get("pull_request", {}).get("base", {}).get("ref", ""),
            "head_ref": self.event.get("pull_request", {}).get("head", {}).get("ref", ""),
        }

    def _job(
        self,
        document: dict[str, Any],
        key: str,
        spec: dict[str, Any],
        matrix: dict[str, Any],
        needs: list[str],
        done: dict[str, list[JobResult]],
        event_path: Path,
        inputs: dict[str, Any],
        prefix: str = "",
    ) -> JobResult:
        suffix = "-".join(_text(v) for v in matrix.values())
        label = f"{prefix}-{key}" if prefix else key
        root = self.work / (f"{label}-{suffix}" if suffix else label)
        workspace, temp = root / "workspace", root / "runner-temp"
        temp.mkdir(parents=True)
        github = self._github(event_path, workspace, key)
        needs_context = {
            name: {
                "result": _combined([r.result for r in done.get(name, [])]),
                "outputs": {},
            }
            for name in needs
        }
        base_context: dict[str, Any] = {
            "github": github,
            "matrix": matrix,
            "needs": needs_context,
            "vars": dict(self.vars),
            "secrets": dict(self.secrets),
            "runner": {"os": "Linux", "temp": str(temp), "arch": "X64"},
            "inputs": inputs,
            "env": {},
            "steps": {},
            "job": {"status": "success"},
            "strategy": {"fail-fast": True},
        }
        needs_ok = all(n["result"] == "success" for n in needs_context.values())
        job_status = {
            "success": needs_ok,
            "failure": not needs_ok,
            "always": True,
            "cancelled": False,
        }
        name = interpolate(spec.get("name", key), base_context, job_status)
        environment = spec.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        environment = interpolate(environment, base_context, job_status) if environment else None
        if not condition(spec.get("if"), base_context, job_status):
            return JobResult(key, name, "skipped", matrix, [], "", None, environment)
        if environment:
            env_spec = self.environments.get(environment, Environment())
            base_context["secrets"] = {**self.secrets, **env_spec.secrets}
            base_context["vars"] = {**self.vars, **env_spec.vars}
        base_context["secrets"]["GITHUB_TOKEN"] = github["token"]

        defaults = {
            **(document.get("defaults", {}) or {}).get("run", {}),
            **(spec.get("defaults", {}) or {}).get("run", {}),
        }
        workflow_env = {
            k: interpolate(v, base_context, job_status)
            for k, v in (document.get("env") or {}).items()
        }
        base_context["env"] = workflow_env
        job_env = {
            **workflow_env,
            **{
                k: interpolate(v, base_context, job_status)
                for k, v in (spec.get("env") or {}).items()
            },
        }
        exported: dict[str, str] = {}
        extra_path: list[str] = []
        steps: list[StepResult] = []
        summary_parts: list[str] = []
        failed = False
        for index, step in enumerate(spec.get("steps", [])):
            status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
            context = {**base_context, "env": {**job_env, **exported}}
            step_name = interpolate(
                step.get("name") or step.get("uses") or _first_line(step.get("run", "")),
                context,
                status,
            )
            step_id = step.get("id")
            if not condition(step.get("if"), context, status):
                result = StepResult(step_name, step_id, "skipped")
            elif str(step.get("uses", "")).startswith("./"):
                result = self._composite(
                    key,
                    index,
                    step,
                    step_name,
                    context,
                    status,
                    env={**job_env, **exported},
                    github=github,
                    workspace=workspace,
                    temp=temp,
                    exported=exported,
                    extra_path=extra_path,
                    summary_parts=summary_parts,
                )
            elif "uses" in step:
                result = self._uses(step, step_name, context, status, workspace)
            else:
                result = self._run(
                    prefix or key,
                    index,
                    step,
                    step_name,
                    context,
                    status,
                    env={**job_env, **exported},
                    github=github,
                    workspace=workspace,
                    temp=temp,
                    defaults=defaults,
                    exported=exported,
                    extra_path=extra_path,
                    summary_parts=summary_parts,
                )
            steps.append(result)
            if step_id:
                base_context["steps"][step_id] = {
                    "outcome": result.outcome,
                    "conclusion": result.outcome,
                    "outputs": result.outputs,
                }
            if result.outcome == "failure" and not step.get("continue-on-error"):
                failed = True
        return JobResult(
            key,
            name,
            "failure" if failed else "success",
            matrix,
            steps,
            "".join(summary_parts),
            workspace,
            environment,
        )

    def _uses(
        self,
        step: dict[str, Any],
        name: str,
        context: Mapping[str, Any],
        status: Mapping[str, bool],
        workspace: Path,
    ) -> StepResult:
        action = str(step["uses"]).split("@", 1)[0]
        given = {k: interpolate(v, context, status) for k, v in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            return self._checkout(name, step.get("id"), given, workspace)
        if action == "actions/setup-python":
            # This interpreter's bin directory is on every step's PATH already.
            return StepResult(name, step.get("id"), "success", 0, f"python {given}\n")
        if action == "actions/configure-pages":
            return StepResult(name, step.get("id"), "success", 0, "pages configured\n")
        if action == "actions/upload-pages-artifact":
            # The site as uploaded, kept in the run's folder (pages-artifact/) for the test.
            shutil.copytree(Path(given["path"]), self.work / "pages-artifact")
            return StepResult(name, step.get("id"), "success", 0, f"uploaded {given['path']}\n")
        if action == "actions/deploy-pages":
            url = f"https://{self.repository.split('/')[0]}.github.io/"
            return StepResult(name, step.get("id"), "success", 0, "", outputs={"page_url": url})
        raise NotImplementedError(f"the test runner does not know the action {step['uses']}")

    def _composite(
        self,
        job_key: str,
        index: int,
        step: dict[str, Any],
        name: str,
        context: dict[str, Any],
        status: Mapping[str, bool],
        *,
        env: dict[str, str],
        github: dict[str, Any],
        workspace: Path,
        temp: Path,
        exported: dict[str, str],
        extra_path: list[str],
        summary_parts: list[str],
    ) -> StepResult:
        """A local composite action (`uses: ./path`): its steps, with its inputs (the `with:`
        given over the defaults), `github.action_path` and GITHUB_ACTION_PATH, and its outputs
        from its steps' outputs."""
        folder = workspace / str(step["uses"]).removeprefix("./")
        action = yaml.safe_load((folder / "action.yml").read_text(encoding="utf-8"))
        if action["runs"]["using"] != "composite":
            raise NotImplementedError(f"the test runner runs composite actions only: {folder}")
        declared = action.get("inputs") or {}
        given = {k: interpolate(v, context, status) for k, v in (step.get("with") or {}).items()}
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"{step['uses']} declares no input {sorted(unknown)}")
        inputs = {
            k: given.get(k, interpolate(spec.get("default", ""), context, status))
            for k, spec in declared.items()
        }
        step_env = {k: interpolate(v, context, status) for k, v in (step.get("env") or {}).items()}
        inner: dict[str, Any] = {
            **context,
            "inputs": inputs,
            "steps": {},
            "github": {**context["github"], "action_path": str(folder)},
        }
        results: list[StepResult] = []
        failed = False
        for number, inner_step in enumerate(action["runs"]["steps"]):
            inner_status = {
                "success": not failed,
                "failure": failed,
                "always": True,
                "cancelled": False,
            }
            inner_name = inner_step.get("name") or inner_step.get("uses") or "run"
            if not condition(inner_step.get("if"), inner, inner_status):
                result = StepResult(inner_name, inner_step.get("id"), "skipped")
            elif "uses" in inner_step:
                result = self._uses(inner_step, inner_name, inner, inner_status, workspace)
            else:
                result = self._run(
                    job_key,
                    index * 100 + number,
                    inner_step,
                    f"{name} / {inner_name}",
                    inner,
                    inner_status,
                    env={**env, **step_env, "GITHUB_ACTION_PATH": str(folder)},
                    github=github,
                    workspace=workspace,
                    temp=temp,
                    defaults={},
                    exported=exported,
                    extra_path=extra_path,
                    summary_parts=summary_parts,
                )
            results.append(result)
            if inner_step.get("id"):
                inner["steps"][inner_step["id"]] = {
                    "outcome": result.outcome,
                    "conclusion": result.outcome,
                    "outputs": result.outputs,
                }
            failed = failed or result.outcome == "failure"
        outputs = {
            k: interpolate(spec.get("value", ""), inner, {"success": True, "always": True})
            for k, spec in (action.get("outputs") or {}).items()
        }
        return StepResult(
            name,
            step.get("id"),
            "failure" if failed else "success",
            1 if failed else 0,
            "".join(f"## {r.name} [{r.outcome}]\n{r.stdout}" for r in results),
            "".join(r.stderr for r in results),
            outputs,
        )

    def _checkout(
        self, name: str, step_id: str | None, given: dict[str, str], workspace: Path
    ) -> StepResult:
        ref = given.get("ref") or ""
        commands = [
            ["git", "clone", "--quiet", "--no-checkout", str(self.origin), str(workspace)],
            [
                "git",
                "-C",
                str(workspace),
                "fetch",
                "--quiet",
                "origin",
                "+refs/pull/*:refs/remotes/pull/*",
            ],
        ]
        if ref and not re.fullmatch(r"[0-9a-f]{40}", ref):
            branch = ref.removeprefix("refs/heads/")
            commands.append(
                [
                    "git",
                    "-C",
                    str(workspace),
                    "checkout",
                    "--quiet",
                    "-B",
                    branch,
                    f"origin/{branch}",
                ]
            )
        else:
            commands.append(
                ["git", "-C", str(workspace), "checkout", "--quiet", "--detach", ref or self.sha]
            )
        log = []
        for command in commands:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, env=self._git_env()
            )
            log.append(done.stdout + done.stderr)
            if done.returncode != 0:
                return StepResult(name, step_id, "failure", done.returncode, "".join(log))
        return StepResult(name, step_id, "success", 0, "".join(log))

    def _git_env(self) -> dict[str, str]:
        home = self.work / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
            **session_bytecode.passed_on(),
        }

    def _run(
        self,
        job_key: str,
        index: int,
        step: dict[str, Any],
        name: str,
        context: dict[str, Any],
        status: Mapping[str, bool],
        *,
        env: dict[str, str],
        github: dict[str, Any],
        workspace: Path,
        temp: Path,
        defaults: dict[str, Any],
        exported: dict[str, str],
        extra_path: list[str],
        summary_parts: list[str],
    ) -> StepResult:
        step_env = {
            k: interpolate(v, {**context, "env": env}, status)
            for k, v in (step.get("env") or {}).items()
        }
        script = interpolate(step["run"], {**context, "env": {**env, **step_env}}, status)
        files = {
            name: temp / f"{kind}-{index}"
            for name, kind in (
                ("GITHUB_OUTPUT", "output"),
                ("GITHUB_ENV", "env"),
                ("GITHUB_PATH", "path"),
                ("GITHUB_STEP_SUMMARY", "summary"),
            )
        }
        for path in files.values():
            path.write_text("", encoding="utf-8")
        script_path = temp / f"step-{index}.sh"
        script_path.write_text(script, encoding="utf-8")
        path = [*extra_path, *([str(self.fake_bin)] if self.fake_bin else []), str(VENV_BIN)]
        path.append(os.environ.get("PATH", "/usr/bin:/bin"))
        process_env = {
            **self._git_env(),
            "PATH": os.pathsep.join(path),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": github["event_path"],
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_SHA": self.sha,
            "GITHUB_REF": self.ref,
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_HEAD_REF": github["head_ref"],
            "GITHUB_SERVER_URL": github["server_url"],
            "GITHUB_API_URL": github["api_url"],
            "GITHUB_RUN_ID": github["run_id"],
            "GITHUB_RUN_NUMBER": github["run_number"],
            "GITHUB_ACTOR": github["actor"],
            "GITHUB_JOB": github["job"],
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(temp),
            **{k: str(v) for k, v in files.items()},
            **self.extra_env,
            **env,
            **step_env,
        }
        shell = step.get("shell") or defaults.get("shell")
        if shell == "bash":
            argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)]
        elif shell is None:
            argv = ["bash", "-e", str(script_path)]
        else:
            raise NotImplementedError(f"the test runner runs bash only, not {shell!r}")
        cwd = workspace / step.get("working-directory", defaults.get("working-directory", "."))
        if self.before_step is not None:
            self.before_step(job_key, name, workspace)
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=process_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        outputs = parse_key_values(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        exported.update(parse_key_values(files["GITHUB_ENV"].read_text(encoding="utf-8")))
        extra_path[:0] = reversed(files["GITHUB_PATH"].read_text(encoding="utf-8").split())
        summary_parts.append(files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"))
        return StepResult(
            name,
            step.get("id"),
            "success" if done.returncode == 0 else "failure",
            done.returncode,
            done.stdout,
            done.stderr,
            outputs,
            script,
        )


def parse_key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV contents: `name=value` lines and `name<<EOF` blocks."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            found[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            found[name] = value
    return found


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "run"


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _combined(results: list[str]) -> str:
    if not results:
        return "skipped"
    if "failure" in results:
        return "failure"
    return "success" if all(r == "success" for r in results) else "skipped"


def _ordered(jobs: Mapping[str, Any]) -> list[str]:
    """Job keys, each after the jobs it needs (file order otherwise)."""
    ordered: list[str] = []
    pending = list(jobs)
    while pending:
        ready = [k for k in pending if all(n in ordered for n in _list(jobs[k].get("needs")))]
        if not ready:
            raise ValueError(f"a cycle in needs: among {pending}")
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def _matrix(spec: Any) -> list[dict[str, Any]]:
    """The combinations of a strategy.matrix (lists and include; exclude is not used here)."""
    if not spec:
        return [{}]
    if isinstance(spec, str):
        raise NotImplementedError("a matrix from an expression is not supported")
    axes = {k: v for k, v in spec.items() if k not in ("include", "exclude")}
    if not axes:
        return [dict(extra) for extra in spec.get("include", []) or []] or [{}]
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    for extra in spec.get("include", []) or []:
        matched = False
        for combo in combos:
            if all(combo.get(k) == v for k, v in extra.items() if k in axes):
                combo.update({k: v for k, v in extra.items() if k not in axes})
                matched = True
        if not matched:
            combos.append(dict(extra))
    return combos or [{}]
