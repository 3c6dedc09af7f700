"""An apply's result in words (render/apply.py): the refused count, the read-back's line, the
ways forward of a refused record, and Redox log IDs. Pure: results built by hand."""

from __future__ import annotations

from reconciler.engine.result import Existing, Outcome, Result, Unverified, Verification
from reconciler.plan import FieldChange, Plan
from reconciler.reconcile.apply import Applied
from reconciler.render.apply import (
    VERIFICATION_OFF,
    apply_summary,
    refused_line,
    render_applied,
    render_verified,
)
from reconciler.views.drift import Drift, Finding

OID = "2.16.840.1.113883.3.6147.458.24601.1.7"
KEY = f"organization:{OID}"
NPI_KEY = "provider:1245319599"


def applied(result: Result) -> Applied:
    return Applied("applied", Plan("development", "lineage", 1, "d" * 64, ()), result)


def test_the_summary_counts_refusals_apart_from_failures() -> None:
    result = Result(
        outcomes=[
            Outcome("organization:1.2.1", "create", "applied"),
            Outcome("organization:1.2.2", "create", "overwritten"),
            Outcome("organization:1.2.3", "create", "adopted"),
            Outcome(KEY, "create", "refused", existing=Existing(fields=("Name",))),
            Outcome("organization:1.2.4", "update", "failed", "HTTP 500"),
            Outcome(f"{KEY}.1", "create", "skipped", "a record it depends on failed"),
        ]
    )
    assert apply_summary(result) == (
        "Apply complete: 3 applied (1 already in the directory), 1 failed, "
        "1 refused: created elsewhere, 1 skipped."
    )
    assert "refused" not in apply_summary(Result(outcomes=[Outcome(KEY, "create", "applied")]))


def test_a_failed_line_carries_its_redox_log_id() -> None:
    failed = Outcome(KEY, "update", "failed", "HTTP 500: duplicate business", redox_log_id="abc")
    text = render_applied(applied(Result(outcomes=[failed])))
    assert f"  failed: update {KEY}: HTTP 500: duplicate business (Redox log ID: abc)" in text
    silent = Outcome(KEY, "update", "failed", "ConnectError")  # Redox never answered
    assert "Redox log ID" not in render_applied(applied(Result(outcomes=[silent])))


def test_a_refusal_names_both_ways_forward_for_the_environment() -> None:
    outcome = Outcome(
        KEY, "create", "refused", redox_log_id="log-1", existing=Existing(fields=("Name",))
    )
    line = refused_line(outcome, "production", "orgs/x.yaml")
    assert line.startswith(f"  refused: created elsewhere: create {KEY} (orgs/x.yaml): ")
    assert "already in the directory with other content (Name)" in line
    assert "(Redox log ID: log-1)" in line
    assert f"`reconciler import --env production --oid {OID}`" in line
    assert "`reconciler apply --env production --adopt-existing`" in line


def test_a_provider_refusal_is_imported_from_the_files() -> None:
    outcome = Outcome(NPI_KEY, "create", "refused", existing=Existing(fields=("IsActive",)))
    line = refused_line(outcome, "development", None)
    assert "`reconciler import --env development --from-files`" in line
    assert "--oid" not in line


def test_a_record_another_organization_manages_offers_no_override() -> None:
    existing = Existing(managed_by="Other Vendor", foreign=True)
    line = refused_line(Outcome(KEY, "create", "refused", existing=existing), "production", None)
    assert "is managed by 'Other Vendor' in the directory, not by your managing_org" in line
    assert "--adopt-existing" not in line
    assert "reconciler import" not in line
    unseen = Existing(visible=False, foreign=True)
    line = refused_line(Outcome(KEY, "create", "refused", existing=unseen), "production", None)
    assert "a query does not show who manages it" in line


def test_the_read_back_line() -> None:
    drift = Drift(
        KEY,
        "organization",
        OID,
        Finding.DIFFERENT,
        "orgs/x.yaml",
        (FieldChange("Name", "Lakeside", "LAKESIDE"),),
    )
    done = Verification("done", 3, (Unverified(KEY, drift=drift),), timeout=5)
    text = render_applied(applied(Result(outcomes=[], verification=done)))
    assert "Verified: 2 of 3." in text
    assert f"  unverified: {KEY} (orgs/x.yaml): different in the directory after 5s" in text
    assert '      Name: "Lakeside" -> "LAKESIDE"' in text
    assert "`reconciler verify --env development`" in text

    off = render_applied(applied(Result(outcomes=[], verification=Verification("off", 3))))
    assert VERIFICATION_OFF in off
    assert "Verified" not in off

    stopped = Verification("stopped", 3, left=3)
    text = render_applied(applied(Result(outcomes=[], verification=stopped)))
    assert "Not verified: the apply was interrupted, so nothing was read back; 3 records" in text
    # Nothing changed before the stop: nothing to say about reading back.
    nothing = Result(outcomes=[], verification=Verification("stopped"))
    assert "erified" not in render_applied(applied(nothing))


def test_verify_words_what_it_found() -> None:
    assert render_verified(Verification("done"), "development", every=False) == (
        "Nothing to verify: no record of development is unverified.\n"
    )
    unread = Unverified(KEY, error="Organization.Query failed after 8 attempts")
    text = render_verified(Verification("done", 2, (unread,)), "development", every=True)
    assert text.startswith("Verified: 1 of 2.\n")
    assert f"  unverified: {KEY}: could not be read back: Organization.Query failed" in text
