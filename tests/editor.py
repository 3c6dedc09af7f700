"""A small LSP client for `yaml-language-server --stdio`: what an editor sees of a YAML file.

It speaks JSON-RPC with Content-Length framing over the server's stdin/stdout, answers the
requests the server sends back (workspace/configuration and the like) so it never stalls,
and turns `textDocument/publishDiagnostics` into `Diagnostic` values.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

PROJECT = Path(__file__).resolve().parents[1]
SERVER = "yaml-language-server"
RESPONSE_LIMIT = 30.0  # a guard against a server that never answers, not a measurement
# `.ci/run` pins the version; these tests pin that version's behaviour.
_PIN = re.compile(r"^YAML_LANGUAGE_SERVER_VERSION=(\S+)$", re.MULTILINE)

Message = dict[str, Any]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem the editor shows: its 1-based line, its text and its LSP severity (1 error)."""

    line: int
    message: str
    severity: int


def pinned_version() -> str:
    """The yaml-language-server version that `.ci/run` installs."""
    match = _PIN.search((PROJECT / ".ci" / "run").read_text(encoding="utf-8"))
    assert match, ".ci/run names no YAML_LANGUAGE_SERVER_VERSION"
    return match.group(1)


@cache
def editor_unavailable() -> str | None:
    """Why the editor tests cannot run here (what is missing), or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (.ci/run installs nodejs and npm)"
    if shutil.which(SERVER) is None:
        return f"{SERVER} is not installed (npm install -g {SERVER}@{pinned_version()})"
    installed = subprocess.run(
        [SERVER, "--version"], capture_output=True, text=True, timeout=RESPONSE_LIMIT, check=False
    ).stdout.strip()
    if installed != pinned_version():
        return (
            f"{SERVER} {installed or '(unknown version)'} is installed; these tests pin "
            f"{pinned_version()} (npm install -g {SERVER}@{pinned_version()})"
        )
    return None


class EditorError(Exception):
    """The language server died, failed a request or did not answer in time."""


class Editor:
    """One running yaml-language-server, configured like an editor with these settings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._settings: Message = {}
        self._next_id = 0
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        # Kept for error messages; it lives as long as the server and close() closes it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [SERVER, "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=root,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        self._reader = threading.Thread(target=self._read, name="lsp-reader", daemon=True)
        self._reader.start()

    # -- the session ----------------------------------------------------------------------

    def start(self) -> None:
        """Initialize the server, with no schemas and the default YAML version."""
        self._settings = _yaml_settings({}, None)
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": self.root.as_uri(),
                "workspaceFolders": [{"uri": self.root.as_uri(), "name": self.root.name}],
                "capabilities": {
                    "workspace": {"configuration": True, "workspaceFolders": True},
                    "textDocument": {"publishDiagnostics": {}},
                },
            },
        )
        self.notify("initialized", {})
        self._settle()

    def configure(
        self,
        *,
        schemas: Mapping[Path, Sequence[str]] | None = None,
        yaml_version: str | None = None,
    ) -> None:
        """Replace the settings: `schemas` maps a schema file to the globs of the files it
        governs (as `yaml.schemas` does in an editor); `yaml_version` is "1.1" or "1.2"
        (None: the server's default)."""
        self._settings = _yaml_settings(schemas or {}, yaml_version)
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": self._settings}})
        self._settle()

    def diagnostics(self, path: Path, text: str) -> list[Diagnostic]:
        """What the editor flags in `text` opened as `path` (the file need not exist)."""
        return self.diagnostics_of({path: text})[path]

    def diagnostics_of(self, files: Mapping[Path, str]) -> dict[Path, list[Diagnostic]]:
        """What the editor flags in each of `files` (path -> text), opened together: the server
        waits a fixed delay before it validates a file, and one wait then serves them all."""
        uris = {path.resolve().as_uri(): path for path in files}
        for uri, path in uris.items():
            document = {"uri": uri, "languageId": "yaml", "version": 1, "text": files[path]}
            self.notify("textDocument/didOpen", {"textDocument": document})
        published = self._wait_for_diagnostics(uris)
        # Closing publishes an empty list for each URI: wait for those too, so that none can
        # be mistaken for the answer to a later open of the same path.
        for uri in uris:
            self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self._wait_for_diagnostics(uris)
        return {
            uris[uri]: sorted(
                Diagnostic(
                    line=item["range"]["start"]["line"] + 1,
                    message=item["message"],
                    severity=item.get("severity", 1),
                )
                for item in items
            )
            for uri, items in published.items()
        }

    def close(self) -> None:
        """Shut the server down politely, then make sure it is gone."""
        try:
            if self._process.poll() is None:
                self.request("shutdown", None)
                self.notify("exit", None)
                self._process.wait(timeout=RESPONSE_LIMIT)
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self._stdin.close()
            self._reader.join(timeout=RESPONSE_LIMIT)
            self._stdout.close()
            self._stderr.close()

    # -- JSON-RPC ---------------------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        """Send a request and return its result, serving the server's requests meanwhile."""
        self._next_id += 1
        ident = self._next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        reply = self._wait(lambda m: "method" not in m and m.get("id") == ident, method)
        if "error" in reply:
            raise EditorError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode()
        try:
            self._stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self._stdin.flush()
        except BrokenPipeError as exc:
            raise EditorError(f"{SERVER} has exited: {self._stderr_text()}") from exc

    def _read(self) -> None:
        """Reader thread: frame by frame onto the inbox; None marks the end of output."""
        try:
            while True:
                length = None
                while (header := self._stdout.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if not header or length is None:
                    return
                self._inbox.put(json.loads(self._stdout.read(length)))
        finally:
            self._inbox.put(None)

    def _wait(self, wanted: Callable[[Message], bool], what: str) -> Message:
        """The next message that `wanted` accepts; server requests are answered on the way."""
        deadline = time.monotonic() + RESPONSE_LIMIT
        while True:
            try:
                message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise EditorError(f"{SERVER} did not answer {what} in time") from None
            if message is None:
                raise EditorError(f"{SERVER} exited during {what}: {self._stderr_text()}")
            if "method" in message and "id" in message:
                self._answer(message)
            elif wanted(message):
                return message

    def _answer(self, message: Message) -> None:
        """Reply to a request from the server as an editor would."""
        result: Any = None  # registerCapability, workDoneProgress/create and the like
        if message["method"] == "workspace/configuration":
            # Sections other than `yaml` (http, editor, [yaml]) keep the server's defaults.
            result = [
                self._settings if item.get("section") == "yaml" else None
                for item in message["params"]["items"]
            ]
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _settle(self) -> None:
        # The server pulls its settings (workspace/configuration) after `initialized` and after
        # every didChangeConfiguration; its codeLens handler awaits that pull, so the answer to
        # a codeLens request means the settings are in force for the next didOpen.
        unopened = (self.root / "settle.yaml").as_uri()
        self.request("textDocument/codeLens", {"textDocument": {"uri": unopened}})

    def _wait_for_diagnostics(self, uris: Iterable[str]) -> dict[str, list[Any]]:
        """The next publishDiagnostics of each of `uris`."""
        pending = set(uris)
        published: dict[str, list[Any]] = {}
        while pending:
            message = self._wait(
                lambda m: (
                    m.get("method") == "textDocument/publishDiagnostics"
                    and m["params"]["uri"] in pending
                ),
                f"the diagnostics of {sorted(pending)}",
            )
            uri = message["params"]["uri"]
            published[uri] = message["params"]["diagnostics"]
            pending.discard(uri)
        return published

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]


def _yaml_settings(schemas: Mapping[Path, Sequence[str]], yaml_version: str | None) -> Message:
    """The `yaml` section an editor would hold; no schema store, so no network."""
    settings: Message = {
        "validate": True,
        "schemas": {schema.resolve().as_uri(): list(globs) for schema, globs in schemas.items()},
        "schemaStore": {"enable": False},
        "kubernetesCRDStore": {"enable": False},
        "format": {"enable": False},
    }
    if yaml_version is not None:
        settings["yamlVersion"] = yaml_version
    return settings


@contextmanager
def running_editor(root: Path) -> Iterator[Editor]:
    """An initialized Editor for the workspace `root` (no schemas yet), shut down on exit."""
    editor = Editor(root)
    try:
        editor.start()
        yield editor
    finally:
        editor.close()
