"""The hostile inputs of issue 12's table and their neighbours, each as a case that breaks one
copy of the example repository and names the command to run and the file the error must name.
tests/test_hostile_input.py runs each one; bench/hostile_input.py prints their figures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from factories import settle
from sandbox_server import example_repo

from reconciler import reconcile
from reconciler.reconcile.workspace import Workspace
from reconciler.render import render_json_chunks

ENV = "development"
LEDGER = "ledger/development.json"
PLAN = "saved-plan.json"
ORG = "orgs/madison-east-clinic.yaml"
SECRET_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7hostileSECRET"
POSIX = sys.platform != "win32"


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" YAML document: `width ** levels` strings from a few hundred bytes."""
    lines = ['a0: &a0 "lol lol lol lol lol lol lol lol"']
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@dataclass(frozen=True)
class Case:
    """One hostile input: `make` breaks the repository, then `command` runs; the error names
    `names`. `outside` gets a folder outside the repository (for symlinks to leave into)."""

    id: str
    make: Callable[[Path, Path], None]
    command: tuple[str, ...] = ("validate",)
    names: tuple[str, ...] = ()
    posix: bool = False  # needs FIFOs, sockets or symlinks
    expect: int = 1


def prepared(root: Path) -> Path:
    """The example repository with a settled development ledger and a saved plan of one
    change (against that ledger), for the cases to break."""
    repo = example_repo(root)
    settle(Workspace(repo=repo, env_name=ENV))
    text = (repo / ORG).read_text(encoding="utf-8").replace("Madison", "Verona", 1)
    (repo / ORG).write_text(text, encoding="utf-8")
    plan = reconcile.plan(Workspace(repo=repo, env_name=ENV))
    (repo / PLAN).write_text("".join(render_json_chunks(plan)), encoding="utf-8")
    return repo


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def _sub(relative: str, old: str, new: str) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, (old, relative)
        _write(path, text.replace(old, new, 1))

    return make


def _moved_and_linked(repo: Path, _outside: Path) -> None:
    """A record kept elsewhere in the repository and linked into orgs/: read as usual."""
    (repo / "shared").mkdir()
    (repo / ORG).rename(repo / "shared" / "clinic.yaml")
    (repo / ORG).symlink_to(Path("..") / "shared" / "clinic.yaml")


def _text(relative: str, text: str | bytes) -> Callable[[Path, Path], None]:
    return lambda repo, _outside: _write(repo / relative, text)


def _append(relative: str, text: str) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / relative
        _write(path, path.read_text(encoding="utf-8") + text)

    return make


def _fifo(relative: str) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        os.mkfifo(path)

    return make


def bind_socket(path: Path) -> None:
    """A Unix socket's file at `path` (a bound socket leaves it behind when closed). Bound under
    a short name and moved into place: a socket's path is limited to about 100 bytes, which a
    test's temporary folder (under pytest-xdist's worker folder) can pass."""
    short = Path(tempfile.mkdtemp(prefix="s"))  # in the system's temporary folder, as tmp_path
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(short / "s"))
        os.replace(short / "s", path)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _socket(relative: str) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / relative
        path.unlink(missing_ok=True)
        bind_socket(path)

    return make


def _symlink(relative: str, target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def make(repo: Path, outside: Path) -> None:
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.symlink_to(target(repo, outside))

    return make


def _secret_key(_repo: Path, outside: Path) -> Path:
    key = outside / "id_rsa.pem"
    key.write_text(
        f"-----BEGIN PRIVATE KEY-----\n{SECRET_LINE}\n-----END PRIVATE KEY-----\n",
        encoding="utf-8",
    )
    return key


def _json_edit(relative: str, change: Callable[[Any], Any]) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / relative
        doc = json.loads(path.read_text(encoding="utf-8"))
        changed = change(doc)
        _write(path, changed if isinstance(changed, str) else json.dumps(doc, indent=2))

    return make


def _first_record(doc: dict[str, Any]) -> str:
    return sorted(doc["records"])[0]


def _set_record(value: Any) -> Callable[[Any], Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["records"][_first_record(doc)] = value

    return change


def _set_in_record(field: str, value: Any) -> Callable[[Any], Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["records"][_first_record(doc)][field] = value

    return change


def _raw_ledger(replace: Callable[[str], str]) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / LEDGER
        _write(path, replace(path.read_text(encoding="utf-8")))

    return make


def _deep_payload(doc: dict[str, Any]) -> str:
    text = json.dumps(doc)
    key = _first_record(doc)
    marker = json.dumps({"x": 0})
    doc["records"][key]["payload"]["Deep"] = {"x": 0}
    text = json.dumps(doc)
    return text.replace(marker, nested_json(2000), 1)


def _intent(kind: str, action: str = "create") -> Callable[[Any], Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["intents"][f"{kind}:1.2.3"] = {
            "kind": kind,
            "identity": "1.2.3",
            "action": action,
            "envelope": {},
            "payload": {},
            "source": None,
            "started_at": "2026-01-01T00:00:00Z",
        }

    return change


def _plan_change(field: str, value: Any) -> Callable[[Any], Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["changes"][0][field] = value

    return change


def _plan_raw(old: str, new: str) -> Callable[[Any], Any]:
    def change(doc: dict[str, Any]) -> str:
        text = json.dumps(doc, indent=2)
        assert old in text, old
        return text.replace(old, new, 1)

    return change


def _plan_cycle(doc: dict[str, Any]) -> None:
    doc["changes"][0]["depends_on"] = [doc["changes"][0]["key"]]


def _plan_twice(doc: dict[str, Any]) -> None:
    doc["changes"].append(doc["changes"][0])


def _settings(data: dict[str, Any]) -> Callable[[Path, Path], None]:
    def make(repo: Path, _outside: Path) -> None:
        path = repo / "reconciler.yaml"
        current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                for inner, inner_value in value.items():
                    if isinstance(inner_value, dict):
                        current[key][inner] = {**current[key].get(inner, {}), **inner_value}
                    else:
                        current[key][inner] = inner_value
            else:
                current[key] = value
        _write(path, yaml.safe_dump(current, sort_keys=False))

    return make


def _env_ledger(value: Any) -> Callable[[Path, Path], None]:
    return _settings({"environments": {ENV: {"ledger": value}}})


def _audit_line(**fields: Any) -> str:
    """One line of an audit trail as the tool writes it (canonical JSON, its chain sound),
    with `fields` put in after (the hash is not made again)."""
    from reconciler.audit import GENESIS, entry_for
    from reconciler.audit.entry import seal

    draft = entry_for(environment=ENV, actor="alice", via="local", result="applied")
    document = seal(draft, seq=1, prev=GENESIS).model_dump(mode="json")
    document.update(fields)
    return json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"


VALIDATE = ("validate",)
PLAN_DEV = ("plan", "--env", ENV)
APPLY_PLAN = ("apply", "--yes", "--env", ENV, PLAN)
AUDIT = "audit/development.jsonl"
AUDIT_VERIFY = ("audit", "verify", "--env", ENV)
AUDIT_SHOW = ("audit", "show", "--env", ENV, "--format", "csv")
BIG = "1" + "0" * 4999

CASES: list[Case] = [
    # -- row 1: alias bombs, and their neighbours
    Case("alias-bomb-org", _text("orgs/bomb.yaml", alias_bomb(9)), names=("orgs/bomb.yaml",)),
    Case(
        "alias-bomb-settings", _text("reconciler.yaml", alias_bomb(9)), names=("reconciler.yaml",)
    ),
    Case("alias-bomb-7-levels", _text(ORG, alias_bomb(7)), PLAN_DEV, names=(ORG,)),
    Case("alias-small", _append(ORG, "county: &c Dane\nalias_of: *c\n"), names=(ORG,)),
    Case(
        "alias-provider",
        _text("providers/x.yaml", "a: &a [1]\nb: *a\n"),
        names=("providers/x.yaml",),
    ),
    Case("alias-as-key", _text("orgs/k.yaml", "a: &k name\n*k : x\n"), names=("orgs/k.yaml",)),
    Case("merge-key-alias", _text("orgs/m.yaml", "a: &a {b: 1}\n<<: *a\n"), names=("orgs/m.yaml",)),
    Case(
        "deep-nesting-yaml",
        _text("orgs/deep.yaml", "a: " + "[" * 500 + "]" * 500),
        names=("orgs/deep.yaml",),
    ),
    Case(
        "deep-block-yaml",
        _text(
            "orgs/deep2.yaml",
            "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",
        ),
        names=("orgs/deep2.yaml",),
    ),
    Case(
        "too-big",
        _text("orgs/big.yaml", "name: " + "x" * (1024 * 1024 + 10) + "\n"),
        names=("orgs/big.yaml",),
    ),
    Case(
        "too-big-settings",
        _text("reconciler.yaml", "directory: " + "x" * (1024 * 1024 + 10) + "\n"),
        names=("reconciler.yaml",),
    ),
    Case(
        "limit-lowered",
        _settings({"max_file_bytes": 1024}),
        names=("providers/avery-lindqvist.yaml", "1 KiB"),
    ),
    # -- row 2: special files named like records
    Case("fifo-org", _fifo("orgs/x.yaml"), names=("orgs/x.yaml",), posix=True),
    Case(
        "fifo-provider-yml",
        _fifo("providers/x.yml"),
        PLAN_DEV,
        names=("providers/x.yml",),
        posix=True,
    ),
    Case("fifo-settings", _fifo("reconciler.yaml"), names=("reconciler.yaml",), posix=True),
    Case("fifo-ledger", _fifo(LEDGER), PLAN_DEV, names=(LEDGER,), posix=True),
    Case("fifo-saved-plan", _fifo(PLAN), APPLY_PLAN, names=(PLAN,), posix=True),
    Case("socket-org", _socket("orgs/s.yaml"), names=("orgs/s.yaml",), posix=True),
    Case(
        "directory-org", lambda repo, _o: (repo / "orgs" / "d.yaml").mkdir(), names=("orgs/d.yaml",)
    ),
    # -- row 3: /dev/zero, and other links that lead nowhere good
    Case(
        "symlink-dev-zero",
        _symlink("orgs/z.yaml", lambda r, o: Path("/dev/zero")),
        names=("orgs/z.yaml",),
        posix=True,
    ),
    Case(
        "ledger-symlink-dev-zero",
        _symlink(LEDGER, lambda r, o: Path("/dev/zero")),
        PLAN_DEV,
        names=(LEDGER,),
        posix=True,
    ),
    Case("ledger-path-dev-zero", _env_ledger("/dev/zero"), PLAN_DEV, names=("reconciler.yaml",)),
    Case(
        "saved-plan-dev-zero",
        _symlink(PLAN, lambda r, o: Path("/dev/zero")),
        APPLY_PLAN,
        names=(PLAN,),
        posix=True,
    ),
    Case(
        "symlink-loop",
        _symlink("orgs/loop.yaml", lambda r, o: r / "orgs" / "loop.yaml"),
        names=("orgs/loop.yaml",),
        posix=True,
    ),
    Case(
        "symlink-dangling",
        _symlink("orgs/gone.yaml", lambda r, o: r / "nowhere.yaml"),
        names=("orgs/gone.yaml",),
        posix=True,
    ),
    Case(
        "symlink-dir-outside",
        _symlink("orgs/dir.yaml", lambda r, o: o),
        names=("orgs/dir.yaml",),
        posix=True,
    ),
    Case("orgs-folder-outside", _symlink("orgs", lambda r, o: o), names=("orgs",), posix=True),
    Case(
        "ledger-folder-outside",
        _symlink("ledger", lambda r, o: o),
        PLAN_DEV,
        names=(LEDGER,),
        posix=True,
    ),
    Case("symlink-inside-is-read", _moved_and_linked, posix=True, expect=0),
    # -- row 4: numbers beyond 64 bits
    Case("oid-5000-digits", _text("orgs/n.yaml", f"oid: {BIG}\n"), names=("orgs/n.yaml",)),
    Case("zip-5000-digits", _sub(ORG, 'zip: "53704"', f"zip: {BIG}"), names=(ORG,)),
    Case("int-2-to-64", _text("orgs/n64.yaml", f"oid: {2**64}\n"), names=("orgs/n64.yaml",)),
    Case(
        "sexagesimal-huge",
        _text("orgs/s60.yaml", "oid: " + ":".join(["59"] * 15) + "\n"),
        names=("orgs/s60.yaml",),
    ),
    Case("float-infinite", _text("orgs/inf.yaml", "name: 1.5e+400\n"), names=("orgs/inf.yaml",)),
    Case("float-nan", _text("orgs/nan.yaml", "name: .nan\n"), names=("orgs/nan.yaml",)),
    Case(
        "settings-5000-digits",
        _text("reconciler.yaml", f"safety:\n  min_records_for_fraction: {BIG}\n"),
        names=("reconciler.yaml",),
    ),
    Case(
        "ledger-serial-5000-digits",
        _raw_ledger(lambda t: t.replace('"serial": 1', f'"serial": {BIG}', 1)),
        PLAN_DEV,
        names=(LEDGER,),
    ),
    # -- row 5: hand-edited ledgers
    Case(
        "ledger-record-list",
        _json_edit(LEDGER, _set_record([1, 2])),
        PLAN_DEV,
        names=(LEDGER, "records["),
    ),
    Case(
        "ledger-record-string",
        _json_edit(LEDGER, _set_record("hello")),
        PLAN_DEV,
        names=(LEDGER, "records["),
    ),
    Case(
        "ledger-unknown-kind",
        _json_edit(LEDGER, _set_in_record("kind", "spaceship")),
        PLAN_DEV,
        names=(LEDGER, "spaceship"),
    ),
    Case(
        "ledger-intent-unknown-kind",
        _json_edit(LEDGER, _intent("spaceship")),
        PLAN_DEV,
        names=(LEDGER, "intents["),
    ),
    Case(
        "ledger-intent-unknown-action",
        _json_edit(LEDGER, _intent("organization", "destroy")),
        PLAN_DEV,
        names=(LEDGER, "destroy"),
    ),
    Case("ledger-nesting-2000", _json_edit(LEDGER, _deep_payload), PLAN_DEV, names=(LEDGER,)),
    Case(
        "ledger-nesting-100",
        _raw_ledger(
            lambda t: t.replace(
                '"payload": {', '"payload": {"Deep": ' + "[" * 100 + "]" * 100 + ",", 1
            )
        ),
        PLAN_DEV,
        names=(LEDGER,),
    ),
    Case(
        "ledger-payload-string",
        _json_edit(LEDGER, _set_in_record("payload", "x")),
        PLAN_DEV,
        names=(LEDGER,),
    ),
    Case(
        "ledger-part-of-string",
        _json_edit(LEDGER, lambda d: d["records"][_first_record(d)]["payload"].update(PartOf="x")),
        PLAN_DEV,
        expect=0,
    ),
    Case(
        "ledger-key-mismatch",
        _json_edit(
            LEDGER,
            lambda d: d["records"].update({"organization:9.9": d["records"][_first_record(d)]}),
        ),
        PLAN_DEV,
        names=(LEDGER, "organization:9.9"),
    ),
    Case(
        "ledger-nan",
        _raw_ledger(lambda t: t.replace('"Active": true', '"Active": NaN', 1)),
        PLAN_DEV,
        names=(LEDGER, "NaN"),
    ),
    Case(
        "ledger-records-list",
        _json_edit(LEDGER, lambda d: d.update(records=[])),
        PLAN_DEV,
        names=(LEDGER,),
    ),
    Case("ledger-not-json", _text(LEDGER, b"\xff\xfe{"), PLAN_DEV, names=(LEDGER,)),
    # -- row 6: edited saved plans (each error names the plan file)
    Case(
        "plan-after-null",
        _json_edit(PLAN, _plan_change("after", None)),
        APPLY_PLAN,
        names=(PLAN, "changes[0].after"),
    ),
    Case(
        "plan-after-number", _json_edit(PLAN, _plan_change("after", 7)), APPLY_PLAN, names=(PLAN,)
    ),
    Case(
        "plan-identity-list",
        _json_edit(PLAN, _plan_change("identity", [1])),
        APPLY_PLAN,
        names=(PLAN, "identity"),
    ),
    Case(
        "plan-nan-in-after",
        _json_edit(PLAN, _plan_raw('"Active": true', '"Active": NaN')),
        APPLY_PLAN,
        names=(PLAN, "NaN"),
    ),
    Case(
        "plan-infinity-in-after",
        _json_edit(PLAN, _plan_raw('"Active": true', '"Active": -Infinity')),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    Case(
        "plan-unknown-kind",
        _json_edit(PLAN, _plan_change("kind", "spaceship")),
        APPLY_PLAN,
        names=(PLAN, "spaceship"),
    ),
    Case(
        "plan-unknown-action",
        _json_edit(PLAN, _plan_change("action", "destroy")),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    Case("plan-waits-for-itself", _json_edit(PLAN, _plan_cycle), APPLY_PLAN, names=(PLAN, "cycle")),
    Case(
        "plan-change-twice",
        _json_edit(PLAN, _plan_twice),
        APPLY_PLAN,
        names=(PLAN, "second change"),
    ),
    Case(
        "plan-changes-string",
        _json_edit(PLAN, lambda d: d.update(changes="0x1F")),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    Case(
        "plan-no-version",
        _json_edit(PLAN, lambda d: d.pop("format_version")),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    Case(
        "plan-deep",
        _json_edit(PLAN, _plan_raw('"Active": true', '"Active": ' + nested_json(3000))),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    Case(
        "plan-truncated", _json_edit(PLAN, lambda d: json.dumps(d)[:100]), APPLY_PLAN, names=(PLAN,)
    ),
    Case(
        "plan-identity-mismatch",
        _json_edit(PLAN, _plan_change("identity", "1.2.3")),
        APPLY_PLAN,
        names=(PLAN,),
    ),
    # -- row 7: broken ledger paths in reconciler.yaml
    Case(
        "ledger-path-nul",
        _env_ledger("ledger/a\x00b.json"),
        PLAN_DEV,
        names=("reconciler.yaml", "ledger"),
    ),
    Case("ledger-path-null", _env_ledger(None), PLAN_DEV, names=("reconciler.yaml", "ledger")),
    Case("ledger-path-empty", _env_ledger(""), PLAN_DEV, names=("reconciler.yaml",)),
    Case(
        "ledger-path-parent", _env_ledger("../outside.json"), PLAN_DEV, names=("reconciler.yaml",)
    ),
    Case("ledger-path-absolute", _env_ledger("/etc/passwd"), PLAN_DEV, names=("reconciler.yaml",)),
    Case("ledger-path-list", _env_ledger(["a"]), PLAN_DEV, names=("reconciler.yaml",)),
    Case(
        "environment-name-path",
        _settings({"environments": {"../x": {}}}),
        PLAN_DEV,
        names=("reconciler.yaml",),
    ),
    # -- row 8: a symlink to a secret outside the repository is never read
    Case(
        "symlink-to-private-key",
        _symlink("orgs/k.yaml", _secret_key),
        names=("orgs/k.yaml", "outside the repository"),
        posix=True,
    ),
    Case(
        "symlink-to-private-key-settings",
        _symlink("reconciler.yaml", _secret_key),
        names=("reconciler.yaml",),
        posix=True,
    ),
    Case(
        "symlink-to-private-key-ledger",
        _symlink(LEDGER, _secret_key),
        PLAN_DEV,
        names=(LEDGER,),
        posix=True,
    ),
    # -- the audit trail: read strictly by `audit verify` and `audit show`, like the ledger
    Case(
        "symlink-to-private-key-audit",
        _symlink(AUDIT, _secret_key),
        AUDIT_SHOW,
        names=(AUDIT, "outside the repository"),
        posix=True,
    ),
    Case("fifo-audit", _fifo(AUDIT), AUDIT_VERIFY, names=(AUDIT,), posix=True),
    Case(
        "audit-symlink-dev-zero",
        _symlink(AUDIT, lambda r, o: Path("/dev/zero")),
        AUDIT_VERIFY,
        names=(AUDIT,),
        posix=True,
    ),
    Case(
        "audit-folder-outside",
        _symlink("audit", lambda r, o: o),
        AUDIT_SHOW,
        names=(AUDIT, "outside the repository"),
        posix=True,
    ),
    Case(
        "audit-path-dev-zero",
        _settings({"environments": {ENV: {"audit": "/dev/zero"}}}),
        AUDIT_VERIFY,
        names=("reconciler.yaml", "audit"),
    ),
    Case(
        "audit-path-parent",
        _settings({"environments": {ENV: {"audit": "../../trail.jsonl"}}}),
        AUDIT_SHOW,
        names=("reconciler.yaml",),
    ),
    Case(
        "audit-nesting-2000",
        _text(AUDIT, _audit_line().replace('"calls":[]', '"calls":' + nested_json(2000))),
        AUDIT_VERIFY,
        names=(AUDIT, "line 1", "nests more than"),
    ),
    Case(
        "audit-seq-5000-digits",
        _text(AUDIT, _audit_line().replace('"seq":1,', f'"seq":{BIG},')),
        AUDIT_SHOW,
        names=(AUDIT, "line 1", "beyond 64 bits"),
    ),
    Case(
        "audit-nan",
        _text(AUDIT, _audit_line().replace('"seq":1,', '"seq":NaN,')),
        AUDIT_VERIFY,
        names=(AUDIT, "line 1", "NaN"),
    ),
    Case(
        "audit-lone-surrogate",
        _text(AUDIT, _audit_line().replace('"actor":"alice"', '"actor":"\\udc00"')),
        AUDIT_SHOW,
        names=(AUDIT, "line 1", "surrogate"),
    ),
    Case("audit-not-utf8", _text(AUDIT, b"\xff\xfe{\n"), AUDIT_VERIFY, names=(AUDIT, "line 1")),
    Case(
        "audit-cut-short",
        _text(AUDIT, _audit_line()[:-40]),
        AUDIT_VERIFY,
        names=(AUDIT, "line 1", "cut short"),
    ),
    Case("audit-empty-line", _text(AUDIT, "\n"), AUDIT_SHOW, names=(AUDIT, "line 1", "empty")),
]
