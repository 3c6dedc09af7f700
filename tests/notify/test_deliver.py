"""notify.send through apprise to a receiver on 127.0.0.1 (apprise's json:// scheme): which
entries get an event, what the message says, and that a missing variable, a dead or slow
receiver, or a URL apprise cannot read is a warning that never shows the URL."""

from __future__ import annotations

import logging
import time

import pytest
from receiver import closed_port, receiving

from reconciler.formats import redact
from reconciler.notify import (
    EVENTS,
    NotifyEntry,
    RunContext,
    apply_counts,
    apply_event,
    send,
    wanted,
)
from reconciler.notify.deliver import secret_parts
from reconciler.render import render_notification

NO_RUN = RunContext()
RUN = RunContext(repository="northwind/redox-records", run_id="77", pull_request=12)


def entry(**given: object) -> NotifyEntry:
    return NotifyEntry.model_validate({"url_env": "HOOK", "events": list(EVENTS), **given})


def test_an_entry_gets_only_the_events_it_names() -> None:
    failures = entry(events=["apply.failed", "drift.found"])
    assert failures.wants("apply.failed", "production")
    assert not failures.wants("apply.applied", "production")
    assert not failures.wants("drift.resolved", "production")


def test_every_environment_but_the_sandbox_by_default_or_those_named() -> None:
    everywhere = entry()
    assert everywhere.wants("apply.applied", "production")
    assert everywhere.wants("apply.applied", "staging")
    assert not everywhere.wants("apply.applied", "sandbox")
    only = entry(environments=["production", "sandbox"])
    assert only.wants("apply.applied", "sandbox")
    assert not only.wants("apply.applied", "development")


def test_one_message_per_url_variable_however_many_entries_want_it() -> None:
    entries = [entry(), entry(events=["apply.applied"]), entry(url_env="OTHER")]
    assert [e.url_env for e in wanted(entries, "apply.applied", "development")] == [
        "HOOK",
        "OTHER",
    ]


def test_the_message_names_the_environment_counts_pull_request_and_run() -> None:
    counts = {"created": 2, "updated": 1, "failed": 0}
    message = render_notification(
        "apply.applied", environment="production", counts=counts, context=RUN
    )
    assert message.title == "reconciler: applied to production"
    assert message.body.splitlines() == [
        "Applied 3 changes to production: 2 created, 1 updated.",
        "Pull request: #12 https://github.com/northwind/redox-records/pull/12",
        "Run: https://github.com/northwind/redox-records/actions/runs/77",
    ]
    found = render_notification(
        "drift.found",
        environment="development",
        counts={"drifted": 1, "checked": 40},
        context=NO_RUN,
        detail="Checked part 1 of 3.",
    )
    assert found.body == (
        "The Redox directory differs from what was last applied to development: 1 record of "
        "40 checked.\nChecked part 1 of 3."
    )


def test_an_apply_is_applied_failed_or_unverified_by_its_outcomes() -> None:
    class Done:
        def __init__(self, action: str, status: str) -> None:
            self.action, self.status = action, status

    ok = [Done("create", "applied"), Done("update", "applied"), Done("create", "resolved")]
    counts = apply_counts(ok)
    assert counts == {"created": 1, "updated": 1}
    assert apply_event("applied", counts) == "apply.applied"
    failed = apply_counts([*ok, Done("update", "failed"), Done("create", "skipped")])
    assert failed == {"created": 1, "updated": 1, "failed": 1, "skipped": 1}
    assert apply_event("applied", failed) == "apply.failed"
    assert apply_event("interrupted", counts) == "apply.failed"
    assert apply_event("applied", apply_counts(ok, unverified=1)) == "apply.unverified"
    assert apply_event("no_changes", {}) is None
    assert apply_event("declined", {}) is None


def test_a_message_is_posted_to_the_receiver() -> None:
    with receiving() as receiver:
        done = send(
            [entry(events=["apply.applied"])],
            event="apply.applied",
            environment="development",
            counts={"created": 2},
            context=RUN,
            environ={"HOOK": receiver.url()},
        )
        [message] = receiver.messages()
    assert [d.status for d in done] == ["sent"]
    assert message["path"] == "/hooks/reconciler"
    assert message["body"]["title"] == "reconciler: applied to development"
    assert message["body"]["message"].startswith("Applied 2 changes to development: 2 created.")
    assert "actions/runs/77" in message["body"]["message"]


def test_an_event_or_environment_not_wanted_sends_nothing() -> None:
    with receiving() as receiver:
        environ = {"HOOK": receiver.url()}
        entries = [entry(events=["apply.failed"])]
        common = {"counts": {}, "context": NO_RUN, "environ": environ}
        assert send(entries, event="apply.applied", environment="development", **common) == []
        assert send(entries, event="apply.failed", environment="sandbox", **common) == []
        assert receiver.messages() == []


def test_an_unset_variable_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        done = send(
            [entry()],
            event="drift.found",
            environment="production",
            counts={"drifted": 1, "checked": 3},
            context=NO_RUN,
            environ={"HOOK": "  "},
        )
    assert [d.status for d in done] == ["unset"]
    assert "Warning: drift.found was not notified: the environment variable HOOK is not set" in (
        caplog.text
    )


def test_an_unreachable_receiver_is_a_warning_that_names_the_variable_not_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "T0kenUnreachable7731"
    url = f"json://127.0.0.1:{closed_port()}/hooks/{token}"
    with caplog.at_level(logging.DEBUG):
        done = send(
            [entry()],
            event="apply.failed",
            environment="production",
            counts={"failed": 1},
            context=NO_RUN,
            environ={"HOOK": url},
        )
    [delivery] = done
    assert delivery.status == "failed"
    assert "Warning: the notification of apply.failed to HOOK failed:" in caplog.text
    assert "Connection error" in delivery.reason
    shown = redact.redact(caplog.text)
    assert token not in shown
    assert redact.redact(f"POST http://127.0.0.1/hooks/{token} and {url}") == (
        "POST http://127.0.0.1*** and ***"
    )


def test_a_slow_receiver_is_given_up_on_within_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with receiving(delay=30) as receiver:
        started = time.monotonic()
        done = send(
            [entry()],
            event="apply.applied",
            environment="production",
            counts={"created": 1},
            context=NO_RUN,
            environ={"HOOK": receiver.url()},
            timeout=1.0,
        )
        took = time.monotonic() - started
        assert len(receiver.messages()) == 1  # it arrived; the answer never came
    [delivery] = done
    assert delivery.status == "timeout"
    assert took < 1.0 + 2.0, took  # a guard with room for a loaded machine, not a measure
    assert "no answer within 1 s" in caplog.text


def test_a_receiver_that_answers_500_is_a_warning() -> None:
    with receiving(status=500) as receiver:
        [delivery] = send(
            [entry()],
            event="apply.applied",
            environment="production",
            counts={},
            context=NO_RUN,
            environ={"HOOK": receiver.url()},
        )
    assert delivery.status == "failed"
    assert "500" in delivery.reason


def test_a_url_apprise_cannot_read_is_a_warning_naming_its_scheme_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    [delivery] = send(
        [entry()],
        event="apply.applied",
        environment="production",
        counts={},
        context=NO_RUN,
        environ={"HOOK": "nosuchservice://S3cretPart9911/x"},
    )
    assert delivery.status == "invalid"
    assert "scheme nosuchservice" in delivery.reason
    assert "S3cretPart9911" not in redact.redact(caplog.text + delivery.reason)


def test_the_parts_of_a_url_that_carry_tokens_are_masked_and_plain_words_are_not() -> None:
    parts = set(
        secret_parts(
            "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xyzXYZsecret, "
            "mailto://user:Pa55word-long@example.com "
            "msteams://northwind/6b2c0f5e-7ad1-4f7b-9d7e/IncomingWebhook/ "
            "tgram://123456789:AAHbotTok3n/4242"
        )
    )
    assert "123456789:AAHbotTok3n" in parts
    assert {"T0123ABCD", "B0456EFGH", "xyzXYZsecret", "Pa55word-long"} <= parts
    assert "/services/T0123ABCD/B0456EFGH/xyzXYZsecret" in parts
    assert "6b2c0f5e-7ad1-4f7b-9d7e" in parts
    assert not {"services", "hooks.slack.com", "example.com", "northwind"} & parts
