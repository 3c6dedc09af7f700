"""Which reviews count as approvals, and whether they meet `approvals` and override soft
policies (reconciler.policy.approvals): pure, reviews and memberships given as data."""

from __future__ import annotations

from reconciler.policy import Level, PolicyResult, Violation
from reconciler.policy.approvals import (
    Review,
    approvals,
    check_approvals,
    check_overrides,
    lookups,
)

HEAD, OLD = "a" * 40, "b" * 40


def test_a_review_counts_when_it_is_the_latest_deciding_approval_of_the_head_by_another() -> None:
    reviews = [
        Review("author", "APPROVED", HEAD),  # the author's own
        Review("old", "APPROVED", OLD),  # before the last push
        Review("flip", "APPROVED", HEAD),
        Review("flip", "CHANGES_REQUESTED", HEAD),  # approved, then asked for changes
        Review("back", "CHANGES_REQUESTED", HEAD),
        Review("back", "APPROVED", HEAD),  # asked for changes, then approved
        Review("back", "COMMENTED", HEAD),  # a comment changes nothing
        Review("gone", "APPROVED", HEAD),
        Review("gone", "DISMISSED", HEAD),
        Review("chat", "COMMENTED", HEAD),
    ]
    found = approvals(reviews, author="author", head_sha=HEAD)
    assert found.logins == ("back",)
    why = {i.login: i.reason for i in found.ignored}
    assert set(why) == {"author", "old", "flip", "gone"}
    assert "author" in why["author"]
    assert "approved bbbbbbb, not aaaaaaa" in why["old"]
    assert "changes requested" in why["flip"]
    assert "dismissed" in why["gone"]


def test_only_active_members_of_a_listed_team_count_and_an_unreadable_one_never() -> None:
    found = approvals(
        [Review(login, "APPROVED", HEAD) for login in ("alice", "bob", "carol", "dave")],
        author="x",
        head_sha=HEAD,
    )
    allowed = ["alice", "@acme/admins"]
    assert lookups(allowed, found.logins) == {
        ("@acme/admins", "bob"),
        ("@acme/admins", "carol"),
        ("@acme/admins", "dave"),
    }
    memberships = {
        ("@acme/admins", "bob"): "active",
        ("@acme/admins", "carol"): "pending",
        ("@acme/admins", "dave"): "unreadable: GitHub answered 403",
    }
    check = check_approvals(required=3, allowed=allowed, found=found, memberships=memberships)
    assert check.approvers == ("alice", "bob")
    assert not check.met
    assert check.missing == 1
    assert check.unreadable
    why = {i.login: i.reason for i in check.ignored}
    assert "pending" in why["carol"]
    assert "could not be read (GitHub answered 403)" in why["dave"]
    assert check_approvals(required=2, allowed=allowed, found=found, memberships=memberships).met


def test_no_list_lets_any_counted_review_approve() -> None:
    found = approvals([Review("bob", "APPROVED", HEAD)], author="x", head_sha=HEAD)
    assert check_approvals(required=1, allowed=[], found=found, memberships={}).met
    assert not check_approvals(required=2, allowed=[], found=found, memberships={}).met


def test_a_soft_policy_is_overridden_only_by_one_of_its_approvers() -> None:
    v = (Violation("organization:1", "1", "deactivate", "m"),)
    soft = PolicyResult("sign-off", Level.SOFT, ("@acme/admins",), v)
    nobody = PolicyResult("no-approvers", Level.SOFT, (), v)
    hard = PolicyResult("hard", Level.HARD, ("ignored",), v)
    clean = PolicyResult("clean", Level.SOFT, ("bob",), ())
    memberships = {("@acme/admins", "bob"): "active", ("@acme/admins", "eve"): "absent"}
    found = check_overrides([soft, nobody, hard, clean], ["bob", "eve"], memberships)
    assert [(o.name, o.by) for o in found] == [("sign-off", ("bob",)), ("no-approvers", ())]
    assert found[0].granted
    assert not found[1].granted
    assert "not a member of @acme/admins" in found[0].ignored[0].reason
    assert "names no approvers" in found[1].ignored[0].reason
    assert not check_overrides([soft], ["eve"], memberships)[0].granted
