"""Test helpers for apply: `reconciler sandbox serve` in a subprocess on 127.0.0.1 (with its
admin hooks), the `reconciler` CLI as a subprocess, and repositories (tests/factories.py) set
up to apply to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from factories import example_repository, generated_repository, write_settings
from redox_schemas import assert_valid_bodies

from reconciler.cli.base import BUG
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import SANDBOX_PROVIDER_DESTINATION

STARTUP_LIMIT = 30.0  # a guard against a server that never starts, not a measurement
CLI_LIMIT = 300.0
# Variables that would steer a child process somewhere other than where a test points it.
_STEERING = ("REDOX_", "NO_COLOR")


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any REDOX_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STEERING)}
    env.update(extra or {})
    return env


# -- the served sandbox ---------------------------------------------------------------------


@dataclass
class ServedSandbox:
    """A running `reconciler sandbox serve`, its data folder and its ready credential."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    credentials: dict[str, str]

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A process environment that talks to this sandbox with its credential."""
        return clean_environ({**self.credentials, **(extra or {})})

    def _get(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=60)
        response.raise_for_status()
        return response.json()

    def organizations(self) -> dict[str, dict[str, Any]]:
        """OID -> the record the directory holds (GET /_sandbox/organizations)."""
        found: dict[str, dict[str, Any]] = self._get("/_sandbox/organizations")
        return found

    def providers(self) -> dict[str, dict[str, Any]]:
        """Identity -> the provider record the directory holds."""
        found: dict[str, dict[str, Any]] = self._get("/_sandbox/providers")
        return found

    def creations(self) -> dict[str, int]:
        """Identity -> how many times a New succeeded for it (GET /_sandbox/creations)."""
        found: dict[str, int] = self._get("/_sandbox/creations")
        return found

    def requests(self) -> list[dict[str, Any]]:
        """The request log (GET /_sandbox/requests), oldest first."""
        found: list[dict[str, Any]] = self._get("/_sandbox/requests")
        return found

    def put_organization(self, record: dict[str, Any]) -> None:
        """Store `record` as if another client had written it (PUT /_sandbox/organizations)."""
        response = httpx.put(self.url + "/_sandbox/organizations", json=record, timeout=60)
        response.raise_for_status()

    def log_size(self) -> int:
        """Where the request log (requests.jsonl) ends now: an offset for `logged_since`."""
        try:
            return (self.data_dir / "requests.jsonl").stat().st_size
        except FileNotFoundError:
            return 0

    def logged_since(self, offset: int) -> list[dict[str, Any]]:
        """The requests logged after `offset` (read from requests.jsonl, not over HTTP)."""
        with (self.data_dir / "requests.jsonl").open("rb") as handle:
            handle.seek(offset)
            return [json.loads(line) for line in handle.read().splitlines() if line.strip()]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_sandbox(data_dir: Path, **faults: Any) -> ServedSandbox:
    """`reconciler sandbox serve --port 0 --data DIR` with fault flags (latency=0.005, ...): a
    flag for True, one flag per item of a list or tuple (never_visible=[OID, ...]), `preload`
    a file (a Path) or the records themselves ({"organizations": [...]}, written beside)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "credentials.env").unlink(missing_ok=True)
    log_path = data_dir / "serve.log"
    args = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0"]
    args += ["--data", str(data_dir)]
    for name, value in faults.items():
        flag = f"--{name.replace('_', '-')}"
        if name == "preload" and isinstance(value, dict):
            path = data_dir / "preload.json"
            path.write_text(json.dumps(value), encoding="utf-8")
            value = path
        if value is True:  # a flag (echo_errors=True)
            args.append(flag)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                args += [flag, str(item)]
        elif value is not None and value is not False:
            args += [flag, str(value)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            cwd=data_dir,
            env=clean_environ(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_ready(process, log_path)
        credentials = read_env_file(data_dir / "credentials.env")
        assert credentials["REDOX_BASE_URL"] == url, (credentials, url)
        assert url.startswith("http://127.0.0.1:"), url
        return ServedSandbox(process, data_dir, url, credentials)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        raise


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> str:
    marker = "Sandbox serving on "
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith(marker):
                return line[len(marker) :].strip()
        if process.poll() is not None:
            raise RuntimeError(f"sandbox serve exited with {process.returncode}:\n{text}")
        time.sleep(0.02)
    raise RuntimeError(f"sandbox serve did not start within {STARTUP_LIMIT}s")


@contextmanager
def served_sandbox(data_dir: Path, **faults: Any) -> Iterator[ServedSandbox]:
    """A served sandbox for the duration of a `with` block."""
    server = start_sandbox(data_dir, **faults)
    try:
        yield server
    finally:
        server.stop()


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines (credentials.env)."""
    found = {}
    for row in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = row.partition("=")
        if sep and name.strip():
            found[name.strip()] = value.strip()
    return found


# -- the CLI as a subprocess ----------------------------------------------------------------


def cli_args(repo: Path, *args: str) -> list[str]:
    """The argv of `reconciler --repo REPO ARGS...` run by this interpreter."""
    return [sys.executable, "-m", "reconciler", "--repo", str(repo), *args]


def start_cli(
    repo: Path, *args: str, environ: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `reconciler ARGS` in a subprocess (stdin not a terminal), its output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cli_args(repo, *args),
            cwd=repo,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for_holder(lock: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Wait until `process` has recorded itself as the holder of `lock`; its holder record."""
    holder_file = lock.with_name(lock.name + ".holder")
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process ended before it was seen holding the lock"
        try:
            holder: dict[str, Any] = json.loads(holder_file.read_text(encoding="utf-8") or "{}")
        except (FileNotFoundError, json.JSONDecodeError):
            holder = {}
        if holder.get("pid") == process.pid:
            return holder
        time.sleep(0.01)
    raise AssertionError(f"the process never took the lock {lock}")


def run_cli(
    repo: Path, *args: str, environ: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `reconciler ARGS` in a subprocess (stdin not a terminal) and wait for it. Its output
    never holds a traceback or the catch-all's bug report, whatever the test expects of it."""
    done = subprocess.run(
        cli_args(repo, *args),
        cwd=repo,
        env=dict(environ) if environ is not None else clean_environ(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_LIMIT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "Traceback (most recent call last)" not in output, output[-3000:]
    assert BUG not in output, output[-3000:]
    return done


# -- repositories set up for sandbox serve ------------------------------------------------------


def example_repo(path: Path, *, rate_limit: float = 200, concurrency: int = 8) -> Path:
    """The project's example repository with its providers (factories.example_repository), set
    up so `--env development` works against `sandbox serve` too."""
    example_repository(path, providers=True)
    write_settings(
        path,
        api={"rate_limit": rate_limit, "concurrency": concurrency, "timeout": 30},
        environments={"development": {"provider_destination": SANDBOX_PROVIDER_DESTINATION}},
    )
    return path


def generated_repo(
    path: Path, *, children: int, root: str, rate_limit: float = 200, concurrency: int = 8
) -> Path:
    """A generated repository (factories.generated_repository: one parent `root` and
    `children` children of it), with the API settings for `sandbox serve`."""
    generated_repository(path, children=children, root=root)
    write_settings(path, api={"rate_limit": rate_limit, "concurrency": concurrency, "timeout": 30})
    return path


def set_key(path: Path, key: str, value: str) -> None:
    """Replace the value of `key:` (first match, any indentation) in a YAML file, by text."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(f"{key}:"):
            indent = line[: len(line) - len(stripped)]
            lines[i] = f"{indent}{key}: {value}\n"
            break
    else:
        raise KeyError(f"{key} not in {path}")
    path.write_text("".join(lines), encoding="utf-8")


# -- what must hold after an apply ----------------------------------------------------------


def desired_wire(repo: Path, env: str) -> dict[str, dict[str, dict[str, Any]]]:
    """kind -> identity -> the record as the directory must hold it, from the files."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for desired in Workspace(repo=repo, env_name=env).desired.values():
        # New and Update carry the payload as the record itself.
        found.setdefault(desired.kind, {})[desired.identity] = desired.payload
    return found


def ledger_doc(repo: Path, env: str) -> dict[str, Any]:
    """The environment's ledger file as JSON."""
    ws = Workspace(repo=repo, env_name=env)
    doc: dict[str, Any] = json.loads(ws.ledger_store.path.read_text(encoding="utf-8"))
    return doc


def assert_valid_requests(bodies: list[dict[str, Any]]) -> None:
    """assert_valid_bodies of the request bodies a test sent (it excuses the two documented
    differences, among them SPEC 1.2's boolean Roles[].Organization.IsActive)."""
    assert_valid_bodies(bodies)


def on_a_terminal(
    repo: Path, *args: str, answer: str, stderr_too: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a pseudo-terminal as stdin (and stderr) and type `answer` into it.
    With `stderr_too`, the returned stderr is what the terminal showed (echo included)."""
    import pty  # POSIX only: the tests that call this are marked posix

    leader, follower = pty.openpty()
    shown = b""
    try:
        process = subprocess.Popen(
            cli_args(repo, *args),
            cwd=repo,
            env=clean_environ(),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower if stderr_too else subprocess.PIPE,
            text=True,
        )
        os.close(follower)
        follower = -1
        os.write(leader, answer.encode())
        if stderr_too:
            # Drain the terminal while the process runs; EIO once every writer has closed it.
            while True:
                try:
                    chunk = os.read(leader, 1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        out, err = process.communicate(timeout=120)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    if stderr_too:
        err = shown.decode(errors="replace")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
