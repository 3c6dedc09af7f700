"""The audit entry: its fields (SPEC 9), its hash over canonical JSON, and the builder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest

from reconciler.audit import GENESIS, calls_of, entry_for, line_hash, result_of
from reconciler.audit.entry import line_text, read_line, seal
from reconciler.errors import AuditError
from reconciler.formats import jsonfile

DIGEST = "sha256:" + "a" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SPEC_FIELDS = {
    "seq",
    "time",
    "environment",
    "actor",
    "via",
    "commit",
    "pull_request",
    "approved_by",
    "plan_digest",
    "policy_overrides",
    "result",
    "calls",
    "prev",
    "hash",
}


@dataclass(frozen=True)
class FakeOutcome:
    """What the applier's Outcome carries (reconciler.engine.applier.Outcome)."""

    key: str
    action: str
    status: str
    message: str = ""


def draft(**overrides: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {
        "environment": "production",
        "actor": "alice",
        "via": "github",
        "result": "applied",
        "commit": COMMIT,
        "pull_request": 42,
        "approved_by": ["bob"],
        "plan_digest": DIGEST,
        "calls": [
            {
                "key": "organization:2.16.840.1.113883.3.6147.458.1",
                "action": "update",
                "status": "applied",
                "redox_log_id": "d9f5d293-0000-4000-8000-000000000001",
            }
        ],
        "time": "2026-12-07T10:00:00Z",
    }
    fields.update(overrides)
    return entry_for(**fields)  # type: ignore[arg-type]


def test_a_line_holds_exactly_the_fields_of_spec_9() -> None:
    entry = seal(draft(), seq=1, prev=GENESIS)
    document = json.loads(line_text(entry))
    assert set(document) == SPEC_FIELDS
    assert document["calls"] == [
        {
            "key": "organization:2.16.840.1.113883.3.6147.458.1",
            "action": "update",
            "status": "applied",
            "redox_log_id": "d9f5d293-0000-4000-8000-000000000001",
        }
    ]
    assert document["prev"] == "sha256:" + "0" * 64
    assert (document["seq"], document["pull_request"], document["approved_by"]) == (1, 42, ["bob"])


def test_the_hash_is_sha256_of_the_canonical_json_without_hash() -> None:
    entry = seal(draft(actor="Zoë Ünicode"), seq=3, prev="sha256:" + "1" * 64)
    document = json.loads(line_text(entry))
    del document["hash"]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert entry.hash == expected == line_hash(document)
    # The line is that canonical JSON itself, with its hash in its place.
    assert "Zoë Ünicode" in line_text(entry)  # UTF-8, not \u escapes


def test_the_same_draft_after_another_line_gets_another_hash() -> None:
    one = seal(draft(), seq=1, prev=GENESIS)
    two = seal(draft(), seq=2, prev=one.hash)
    assert one.hash != two.hash
    assert two.prev == one.hash


def test_reading_a_line_back_gives_the_entry_and_checks_its_hash() -> None:
    entry = seal(draft(), seq=1, prev=GENESIS)
    raw = line_text(entry).encode()[:-1]
    assert read_line(raw)[1] == entry
    edited = raw.replace(b'"actor":"alice"', b'"actor":"alicf"')
    with pytest.raises(jsonfile.JsonProblem, match="does not match its hash"):
        read_line(edited)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "is empty"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"seq": 1', "is not JSON"),
        (b'{"seq": NaN}', "NaN"),
        (b'{"seq": 1e999}', "not finite"),
        (b'{"seq": 123456789012345678901234567890}', "beyond 64 bits"),
        (b'{"calls": [[[["deep"]]]]}', "nests more than"),
        (b'{"actor": "\\ud800"}', "lone surrogate"),
        (b'{"actor": "\xff"}', "not UTF-8"),
        (b'{"seq": 1}', "Field required"),
    ],
)
def test_a_line_that_is_no_entry_says_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(jsonfile.JsonProblem, match=message):
        read_line(raw)


def test_a_line_with_an_unknown_field_is_refused() -> None:
    document = json.loads(line_text(seal(draft(), seq=1, prev=GENESIS)))
    document["note"] = "added by hand"
    document["hash"] = line_hash(document)
    with pytest.raises(jsonfile.JsonProblem, match="note"):
        read_line(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"via": "email"}, "via"),
        ({"result": "done"}, "result"),
        ({"plan_digest": "sha256:abc"}, "plan_digest"),
        ({"commit": "HEAD"}, "commit"),
        ({"pull_request": 0}, "pull_request"),
        ({"actor": ""}, "actor"),
        ({"time": "yesterday"}, "time"),
        ({"calls": [{"key": "x", "action": "update", "status": "applied"}]}, "calls"),
        ({"calls": [{"key": "organization:1", "action": "delete", "status": "applied"}]}, "calls"),
    ],
)
def test_a_draft_that_does_not_fit_names_the_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(AuditError, match=field):
        draft(**overrides)


def test_a_draft_may_leave_out_what_a_local_apply_does_not_have() -> None:
    local = entry_for(environment="sandbox", actor="dev", via="local", result="refused")
    assert (local.commit, local.pull_request, local.plan_digest) == (None, None, None)
    assert (local.approved_by, local.policy_overrides, local.calls) == ((), (), ())
    assert local.time.endswith("Z")


def test_calls_come_from_the_applier_outcomes_with_their_log_ids() -> None:
    outcomes = [
        FakeOutcome("organization:1.2.3", "create", "applied"),
        FakeOutcome("organization:1.2.3.1", "update", "failed", "Redox said no"),
        FakeOutcome("provider:1234567893", "deactivate", "skipped"),
    ]
    calls = calls_of(outcomes, {"organization:1.2.3": "log-1", "organization:1.2.3.1": "log-2"})
    assert [(c.key, c.action, c.status, c.redox_log_id) for c in calls] == [
        ("organization:1.2.3", "create", "applied", "log-1"),
        ("organization:1.2.3.1", "update", "failed", "log-2"),
        ("provider:1234567893", "deactivate", "skipped", None),
    ]


@pytest.mark.parametrize(
    ("statuses", "interrupted", "unverified", "expected"),
    [
        (["applied", "adopted"], False, False, "applied"),
        (["applied", "failed"], False, False, "partial"),
        (["applied", "skipped"], False, False, "partial"),
        (["applied"], True, False, "interrupted"),
        (["applied"], False, True, "unverified"),
        (["failed"], False, True, "partial"),
    ],
)
def test_the_result_of_an_apply_follows_its_outcomes(
    statuses: list[str], interrupted: bool, unverified: bool, expected: str
) -> None:
    outcomes = [FakeOutcome(f"organization:1.{n}", "update", s) for n, s in enumerate(statuses)]
    assert result_of(outcomes, interrupted=interrupted, unverified=unverified) == expected
