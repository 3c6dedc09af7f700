"""Every record's recent history at once (the report's): the same events as `history` shows for
each record, read in one pass over git, and a ledger walk that stops at its budget."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from factories import Repo
from git_story import Git, apply_to

from reconciler import reconcile
from reconciler.git.activity import recent_activity
from reconciler.ledger import file as ledger_file
from reconciler.reconcile.views import environments, status_of
from reconciler.render.history import timeline
from reconciler.views.activity import file_changes, ledger_entries, ledger_walk
from reconciler.views.history import Commit, FileChange, FileEvent, History, LedgerEvent


def _busy(repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]) -> tuple[Repo, Git]:
    """Four clinics over eleven commits: added, edited, renamed, one file deleted (its record
    left in the ledgers), applied to development after each change and to production twice."""
    made = repo({f"clinic-{n}": org(n, name=f"Clinic {n}") for n in range(1, 5)})
    made.settings({"missing": "deactivate"})
    git = Git(made.root)
    first = git.commit("Add four clinics")
    apply_to(made, "development", first)
    git.commit("reconciler: apply development")
    for city in ("Verona", "Sun Prairie", "Middleton"):
        made.org("clinic-1", org(1, name="Clinic 1", address={**org(1)["address"], "city": city}))
        made.org("clinic-2", org(2, name="Clinic 2", aliases=[city]))
        change = git.commit(f"Clinics 1 and 2 in {city}")
        apply_to(made, "development", change)
        git.commit("reconciler: apply development")
    git.run("mv", "orgs/clinic-3.yaml", "orgs/clinic-three.yaml")
    renamed = git.commit("Rename clinic 3's file")
    apply_to(made, "production", renamed)
    git.commit("reconciler: apply production")
    (made.root / "orgs/clinic-4.yaml").unlink()
    gone = git.commit("Clinic 4 closes")
    apply_to(made, "development", gone)
    git.commit("reconciler: apply development")
    return made, git


def _shown(event: FileEvent | LedgerEvent) -> tuple[Any, ...]:
    """What the report shows of an event (an added or deleted record lists no fields)."""
    if isinstance(event, FileEvent):
        fields = () if event.change in {"added", "deleted"} else event.fields
        return ("file", event.commit.sha, event.path, event.change, fields, event.boundary)
    return (
        "applied",
        event.environment,
        event.commit.sha,
        event.applied_commit,
        event.status,
        event.intent,
        event.boundary,
    )


def _activity(made: Repo, *, limit: int = 5, budget: int = 10**9) -> dict[str, History]:
    ws = made.workspace("development")
    spaces = environments(ws, sandbox=False)
    found = status_of(ws, spaces)
    base = spaces["development"]
    ledgers = {name: space.environment.ledger for name, space in spaces.items()}
    activity = recent_activity(
        made.root,
        found.rows,
        env=base.environment,
        desired=base.desired,
        ledgers=ledgers,
        limit=limit,
        budget=budget,
    )
    return activity.histories


def test_every_record_has_the_newest_events_history_shows(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made, _ = _busy(repo, org)
    histories = _activity(made, limit=5)
    assert len(histories) == 4
    for key, recent in histories.items():
        alone = reconcile.history(made.workspace("development"), key)
        expected = [_shown(e) for e in timeline(alone)[:5]]
        assert [_shown(e) for e in timeline(recent)[:5]] == expected, key
    # Clinic 1: production got it, then back to development's last apply and edit, and the
    # one before; its file's older commits are left out.
    clinic_1 = timeline(histories[f"organization:{org(1)['oid']}"])
    assert [getattr(e, "environment", "file") for e in clinic_1] == [
        "production",
        "development",
        "file",
        "development",
        "file",
    ]
    assert clinic_1[2].commit.subject == "Clinics 1 and 2 in Middleton"
    assert any(e.fields for e in clinic_1 if isinstance(e, FileEvent))  # a diff, as history's


def test_a_renamed_and_a_deleted_file_keep_their_history(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made, _ = _busy(repo, org)
    histories = _activity(made)
    three = histories[f"organization:{org(3)['oid']}"]
    assert three.file == "orgs/clinic-three.yaml"
    assert [e.change for e in three.files] == ["renamed", "added"]
    four = histories[f"organization:{org(4)['oid']}"]
    assert four.file is None  # only the ledgers hold it now
    assert [e.change for e in four.files] == ["deleted", "added"]
    assert four.ledgers["development"][0].status == "inactive"


def test_the_ledger_walk_stops_at_its_budget_and_says_what_was_there(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    _made, git = _busy(repo, org)
    path = "ledger/development.json"
    commits = [
        Commit(sha, "2024-01-01T00:00:00Z", "a", "s", (), int(stamp))
        for sha, stamp in (
            line.split() for line in git.run("log", "--format=%H %ct", "--", path).splitlines()
        )
    ]

    def read(sha: str) -> bytes | None:
        return git.run("show", f"{sha}:{path}").encode()

    everything = ledger_walk("development", commits, read, limit=5, budget=10**9)
    assert (everything.read, everything.commits, everything.cut) == (5, 5, None)
    cut = ledger_walk("development", commits, read, limit=5, budget=1)
    assert (cut.read, cut.commits, cut.cut) == (2, 5, commits[1])
    # Clinic 3 was last applied to development at the first commit: older than the two
    # versions read, it shows as already there at the oldest of them.
    three = cut.events[f"organization:{org(3)['oid']}"]
    assert [(e.commit, e.boundary) for e in three] == [(commits[1], True)]
    # Clinic 4's deactivation is in the newest version: found, with its applied commit.
    four = cut.events[f"organization:{org(4)['oid']}"]
    assert (four[0].commit, four[0].boundary, four[0].status) == (commits[0], False, "inactive")
    assert (
        four[0].applied_commit
        == everything.events[f"organization:{org(4)['oid']}"][0].applied_commit
    )


def test_a_cut_walk_is_noted_and_names_a_command_that_shows_everything(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made, _ = _busy(repo, org)
    ws = made.workspace("development")
    spaces = environments(ws, sandbox=False)
    found = status_of(ws, spaces)
    activity = recent_activity(
        made.root,
        found.rows,
        env=spaces["development"].environment,
        desired=spaces["development"].desired,
        ledgers={"development": "ledger/development.json"},
        limit=5,
        budget=1,
    )
    assert any(
        "newest 2 of the 5 commits of ledger/development.json" in note
        and "`reconciler history IDENTITY`" in note
        for note in activity.notes
    )


def test_ledger_entries_cut_out_of_the_layout_are_the_whole_reading_entries(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made = repo({"a": org(1), "b": org(2, name='Quote " and \\ back')})
    made.settle("development")
    raw = made.ledger_path("development").read_bytes()
    cut = ledger_entries(raw)
    whole = json.loads(raw)
    assert set(cut) == set(whole["records"])
    for key, (entry, intent) in cut.items():
        assert entry is not None
        assert intent is None
        assert json.loads(b"{" + entry + b"}")[key] == whole["records"][key]
    # Another layout (a hand-written file) is read whole, to the same keys.
    compact = json.dumps(whole).encode()
    assert set(ledger_entries(compact)) == set(cut)
    assert ledger_entries(b"not json") == {}
    assert ledger_entries(None) == {}


def test_an_intent_is_an_event_of_its_own(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made = repo({"a": org(1)})
    made.settle("development")
    path = made.ledger_path("development")
    newer = ledger_file.load(path, "development")
    key = f"organization:{org(1)['oid']}"
    intent = {
        "kind": "organization",
        "identity": org(1)["oid"],
        "action": "update",
        "payload": {},
        "started_at": "2024-01-01T00:00:00Z",
    }
    document = json.loads(path.read_bytes())
    document["intents"] = {key: intent}
    texts = [json.dumps(document, indent=2, sort_keys=True).encode(), path.read_bytes()]
    commits = [Commit(f"{n}" * 40, "2024-01-0{n}", "a", "s", (), 10 - n) for n in (1, 2)]
    walk = ledger_walk(
        "development", commits, lambda sha: texts[int(sha[0]) - 1], limit=5, budget=10**9
    )
    events = walk.events[key]
    assert [(e.commit, e.intent, e.status) for e in events] == [
        (commits[0], "update", "active"),
        (commits[1], None, "active"),
    ]
    assert newer.records[key].status == "active"


def _commit(n: int) -> Commit:
    return Commit(f"{n:040x}", "2024-01-01", "a", f"commit {n}", (), 100 - n)


def test_file_changes_follow_renames_and_stop_at_the_limit() -> None:
    log = [
        (_commit(1), [FileChange(_commit(1), "M", "orgs/b.yaml", None)]),
        (_commit(2), [FileChange(_commit(2), "R", "orgs/b.yaml", "orgs/a.yaml")]),
        (_commit(3), [FileChange(_commit(3), "M", "orgs/a.yaml", None)]),
        (_commit(4), [FileChange(_commit(4), "M", "orgs/a.yaml", None)]),
        (_commit(5), [FileChange(_commit(5), "A", "orgs/a.yaml", None)]),
        # Before it was added, another record's file had the name.
        (_commit(6), [FileChange(_commit(6), "D", "orgs/a.yaml", None)]),
    ]
    found = file_changes(log, {"orgs/b.yaml": "organization:1"}, limit=10)
    assert [c.commit for c in found["organization:1"]] == [_commit(n) for n in range(1, 6)]
    limited = file_changes(log, {"orgs/b.yaml": "organization:1"}, limit=2)
    assert [c.commit for c in limited["organization:1"]] == [_commit(1), _commit(2)]


@pytest.mark.parametrize("limit", [1, 3])
def test_the_limit_keeps_the_newest_events(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]], limit: int
) -> None:
    made, _ = _busy(repo, org)
    histories = _activity(made, limit=limit)
    for key, recent in histories.items():
        alone = reconcile.history(made.workspace("development"), key)
        assert [_shown(e) for e in timeline(recent)[:limit]] == [
            _shown(e) for e in timeline(alone)[:limit]
        ], key


def test_outside_git_there_is_no_history_and_a_note_says_why(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]]
) -> None:
    made = repo({"a": org(1)})
    ws = made.workspace("development")
    found = status_of(ws, environments(ws, sandbox=False))
    activity = recent_activity(
        made.root, found.rows, env=ws.environment, desired=ws.desired, ledgers={}, limit=5
    )
    assert activity.histories == {}
    assert activity.notes == (f"{made.root} is not in a git repository with a commit: no history.",)
