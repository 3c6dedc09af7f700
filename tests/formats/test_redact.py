"""Secrets never printed, logged or written: a server that echoes the request in its error
replies (`sandbox serve --echo-errors`) sees the bearer token and the client assertion, and the
reconciler shows `***` in their place, on stdout, on stderr (with --verbose too) and in every
file it writes."""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.parse
from pathlib import Path

from factories import write_settings
from sandbox_server import example_repo, run_cli, served_sandbox

from reconciler.formats import redact

JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
BEARER = re.compile(r"Bearer (?!\*\*\*)[\w.~+/=-]{8,}")
WRONG_DESTINATION = "00000000-0000-4000-8000-000000000000"


def _pem_lines(key_file: Path) -> list[str]:
    return [
        line
        for line in key_file.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("-----")
    ]


def _assert_clean(text: str, pem_lines: list[str], where: str) -> None:
    assert not JWT.search(text), f"a JWT in {where}"
    assert not BEARER.search(text), f"a bearer token in {where}"
    for line in pem_lines:
        assert line not in text, f"a line of the private key in {where}"


def test_an_echoing_server_never_gets_a_secret_printed_logged_or_written(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    # Every organization call is refused (no subscription to this destination), and the
    # refusal repeats the request: its Authorization header and its body.
    write_settings(
        repo, environments={"development": {"organization_destination": WRONG_DESTINATION}}
    )
    with served_sandbox(tmp_path / "served", echo_errors=True) as served:
        pem_lines = _pem_lines(Path(served.credentials["REDOX_PRIVATE_KEY_FILE"]))
        applied = run_cli(
            repo, "-v", "apply", "--yes", "--env", "development", environ=served.environ()
        )
        out = repo / "plan.json"
        planned = run_cli(
            repo,
            "plan",
            "--refresh",
            "--env",
            "development",
            "--out",
            str(out),
            environ=served.environ(),
        )
        # A credential the server refuses: the token request's form (with the signed client
        # assertion) comes back in the error.
        refused = run_cli(
            repo,
            "-v",
            "apply",
            "--yes",
            "--env",
            "development",
            environ=served.environ({"REDOX_KEY_ID": "not-the-registered-kid"}),
        )
        echoed = [e for e in served.requests() if e["status"] >= 400]

    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "failed:" in applied.stdout
    # The echo happened and was masked: the header and the assertion show as ***.
    assert '"authorization": "Bearer ***"' in applied.stdout
    assert refused.returncode == 1
    assert "client_assertion=***" in refused.stderr
    assert echoed, "the sandbox refused nothing: the test proves nothing"
    for name, text in (
        ("apply's stdout", applied.stdout),
        ("apply's stderr (--verbose)", applied.stderr),
        ("plan's output", planned.stdout + planned.stderr),
        ("the refused apply's output", refused.stdout + refused.stderr),
    ):
        _assert_clean(text, pem_lines, name)
    written = [p for p in repo.rglob("*") if p.is_file() and ".reconciler" not in p.parts]
    assert any(p.name == "development.json" for p in written)
    for path in written:
        _assert_clean(path.read_text(encoding="utf-8", errors="replace"), pem_lines, str(path))


def test_a_registered_secret_is_masked_in_each_of_its_forms() -> None:
    token = "tok_0123456789abcdef/+=~"
    redact.register(token)
    assert redact.redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"
    assert redact.redact(json.dumps({"t": token})) == '{"t": "***"}'
    assert redact.redact(urllib.parse.urlencode({"a": token, "b": "c"})) == "a=***&b=c"
    assert redact.redact("short text stays") == "short text stays"
    redact.register("tiny")  # too short to be a secret: never masks ordinary words
    assert redact.redact("a tiny word") == "a tiny word"


def test_a_pem_is_masked_whole_and_line_by_line() -> None:
    body = ["MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIB", "AQDqredactionTESTline2xyz"]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----\n"
    redact.register_pem(pem)
    assert redact.redact(pem) == "***"
    assert redact.redact(f"line: {body[1]}") == "line: ***"
    assert redact.redact("".join(body)) == "***"
    assert redact.redact(pem.replace("\n", "\\n")) == "***"


def test_logs_and_streams_are_masked() -> None:
    secret = "assertion.eyJhbGciOiJFUzM4NCJ9.signature"
    redact.register(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redact.RedactingFilter())
    logger = logging.getLogger("test_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("sent %s", secret)
        try:
            raise ValueError(f"echoed {secret}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert secret not in stream.getvalue()
    assert "sent ***" in stream.getvalue()
    assert "echoed ***" in stream.getvalue()
    wrapped = io.StringIO()
    redact.RedactingStream(wrapped).write(f"x {secret} y")  # type: ignore[arg-type]
    redact.RedactingStream(wrapped).writelines([secret, "\n"])  # type: ignore[arg-type]
    assert wrapped.getvalue() == "x *** y***\n"


def test_the_job_summary_and_step_outputs_are_masked(tmp_path: Path) -> None:
    from reconciler.github import Actions

    secret = "ghs_summarysecret0123456789"
    redact.register(secret)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    actions = Actions(repository="o/r", summary_path=summary, output_path=output)
    actions.add_summary(f"the token was {secret}")
    actions.set_outputs(echo=f"x {secret} y", lines=f"a\n{secret}\n")
    written = summary.read_text() + output.read_text()
    assert secret not in written
    assert "the token was ***" in summary.read_text()
    assert "echo=x *** y" in output.read_text()


def test_credential_headers_are_masked_whoever_issued_them() -> None:
    headers = {
        "Authorization": "Bearer never-registered-0123456789",
        "proxy-authorization": "Basic dXNlcjpwYXNzd29yZA==",
        "X-Api-Key-Less": "kept",
        "AUTHORIZATION": "bare-credential-0123456789",
    }
    assert redact.masked_headers(headers) == {
        "Authorization": "Bearer ***",
        "proxy-authorization": "Basic ***",
        "X-Api-Key-Less": "kept",
        "AUTHORIZATION": "***",
    }
