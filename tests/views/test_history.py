"""`history IDENTITY`: a record's commits with the fields each changed, and the ledger commits
that recorded it being applied, read from a real git repository."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import Repo, organization
from git_story import Git, apply_to

from reconciler.views.history import bisect_changes, entry_at


@pytest.fixture
def story(repo: Callable[..., Repo]) -> tuple[Repo, Git, str]:
    """Two clinics. Commit 1 adds them, development gets it; commit 2 moves clinic A to Verona,
    development gets it; commit 3 changes only clinic B; production gets it all."""
    made = repo(
        {"clinic-a": organization(1, name="Clinic A"), "clinic-b": organization(2, name="Clinic B")}
    )
    git = Git(made.root)
    first = git.commit("Add clinics A and B")
    apply_to(made, "development", first)
    git.commit("reconciler: apply development")
    made.org(
        "clinic-a",
        organization(1, name="Clinic A", address={**organization(1)["address"], "city": "Verona"}),
    )
    second = git.commit("Move clinic A to Verona")
    apply_to(made, "development", second)
    git.commit("reconciler: apply development")
    made.org("clinic-b", organization(2, name="Clinic B", aliases=["CB"]))
    third = git.commit("Alias for clinic B")
    apply_to(made, "development", third)
    git.commit("reconciler: apply development")
    apply_to(made, "production", third)
    git.commit("reconciler: apply production")
    oid = organization(1)["oid"]
    return made, git, oid


def history_json(run_cli: Any, made: Repo | Path, identity: str) -> dict[str, Any]:
    done = run_cli("history", identity, "--format", "json", repo=made)
    assert done.exit_code == 0, done.output
    document: dict[str, Any] = json.loads(done.output)
    return document


def test_history_lists_the_two_commits_of_the_file_with_the_fields_each_changed(
    story: tuple[Repo, Git, str], run_cli: Any
) -> None:
    made, _, oid = story
    document = history_json(run_cli, made, oid)
    files = [e for e in document["events"] if e["type"] == "file"]
    assert [e["subject"] for e in files] == ["Move clinic A to Verona", "Add clinics A and B"]
    assert files[0]["fields"] == [
        {
            "path": "Address.City",
            "before": "Madison",
            "after": "Verona",
            "added": False,
            "removed": False,
        }
    ]
    assert files[1]["change"] == "added"
    assert {f["path"] for f in files[1]["fields"]} >= {"Name", "Identifiers", "PartOf", "Address"}
    assert all(f["added"] for f in files[1]["fields"])
    assert {e["author"] for e in files} == {"Ada Reviewer"}
    assert document["file"] == "orgs/clinic-a.yaml"
    assert document["name"] == "Clinic A"


def test_history_shows_when_each_environment_got_the_record(
    story: tuple[Repo, Git, str], run_cli: Any
) -> None:
    made, git, oid = story
    commits = git.run("log", "--format=%H %s").splitlines()
    source = {line.split(" ", 1)[1]: line.split()[0] for line in commits}
    document = history_json(run_cli, made, oid)
    applied = [e for e in document["events"] if e["type"] == "applied"]
    # Development recorded A twice (commit 1, commit 2); the apply of commit 3 left A alone.
    assert [(e["environment"], e["applied_commit"]) for e in applied] == [
        ("production", source["Alias for clinic B"]),
        ("development", source["Move clinic A to Verona"]),
        ("development", source["Add clinics A and B"]),
    ]
    assert all(e["subject"].startswith("reconciler: apply ") for e in applied)
    assert all(e["status"] == "active" for e in applied)
    dates = [e["date"] for e in document["events"]]
    assert dates == sorted(dates, reverse=True)  # newest first
    text = run_cli("history", oid, repo=made).output
    assert "Applied to development (ledger commits, newest first):" in text
    assert f"applied {source['Add clinics A and B'][:10]} at " in text
    assert 'Address.City: "Madison" -> "Verona"' in text


def test_history_follows_a_rename(story: tuple[Repo, Git, str], run_cli: Any) -> None:
    made, git, oid = story
    git.run("mv", "orgs/clinic-a.yaml", "orgs/verona-clinic.yaml")
    git.commit("Rename clinic A's file")
    document = history_json(run_cli, made, f"organization:{oid}")
    files = [e for e in document["events"] if e["type"] == "file"]
    assert [e["change"] for e in files] == ["renamed", "modified", "added"]
    assert files[0]["previous_path"] == "orgs/clinic-a.yaml"
    assert files[0]["path"] == "orgs/verona-clinic.yaml"
    assert files[0]["fields"] == []  # a rename changes no field
    assert "no field changed" in run_cli("history", oid, repo=made).output


def test_an_invalid_version_is_reported_as_such(story: tuple[Repo, Git, str], run_cli: Any) -> None:
    made, git, oid = story
    path = made.root / "orgs/clinic-a.yaml"
    path.write_text(path.read_text().replace("zip: '53703'", "zip: '537'"))
    git.commit("A typo in the ZIP")
    document = history_json(run_cli, made, oid)
    newest = document["events"][0]
    assert newest["subject"] == "A typo in the ZIP"
    assert "orgs/clinic-a.yaml" in newest["invalid"]
    assert "zip" in newest["invalid"].lower()
    assert newest["fields"] == []


def test_a_shallow_clone_says_what_is_missing(
    story: tuple[Repo, Git, str], tmp_path: Path, run_cli: Any
) -> None:
    made, _, oid = story
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{made.root}", str(clone)], check=True
    )
    done = run_cli("history", oid, "--format", "json", repo=clone)
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert any("shallow clone" in note for note in document["notes"])
    # Only the last two commits are here (development's third apply, then production's).
    # Neither changed clinic A's file: the clone's first commit already has it, and
    # development's entry, which are flagged as cut; production's entry was new in the second.
    files = [e for e in document["events"] if e["type"] == "file"]
    assert [(e["change"], e["history_cut"]) for e in files] == [("present at the cut", True)]
    applied = [e for e in document["events"] if e["type"] == "applied"]
    assert [(e["environment"], e["history_cut"]) for e in applied] == [
        ("production", False),
        ("development", True),
    ]
    text = run_cli("history", oid, repo=clone).output
    assert "the history before this commit is missing (shallow clone)" in text


def test_outside_git_history_says_so(repo: Callable[..., Repo], run_cli: Any) -> None:
    made = repo({"a": organization(1)})
    done = run_cli("history", organization(1)["oid"], repo=made)
    assert done.exit_code == 1
    assert "not in a git repository" in done.output


def test_an_unknown_record_is_a_clear_error(story: tuple[Repo, Git, str], run_cli: Any) -> None:
    made, _, _ = story
    done = run_cli("history", "1.2.3.4", repo=made)
    assert done.exit_code == 1
    assert "no record 1.2.3.4 in the files or the ledgers" in done.output


def test_a_record_whose_file_is_gone_is_found_in_the_ledger(
    story: tuple[Repo, Git, str], run_cli: Any
) -> None:
    made, git, oid = story
    (made.root / "orgs/clinic-a.yaml").unlink()
    git.commit("Remove clinic A's file")
    document = history_json(run_cli, made, oid)
    files = [e for e in document["events"] if e["type"] == "file"]
    assert [e["change"] for e in files] == ["deleted", "modified", "added"]
    assert document["file"] == "orgs/clinic-a.yaml"


# --- the pieces ---------------------------------------------------------------------------------


def test_bisection_finds_every_change_a_scan_finds() -> None:
    rng = random.Random(7)
    for _ in range(200):
        count = rng.randint(1, 300)
        # newest first; a state only ever moves on (an apply time only grows)
        changes = sorted(rng.sample(range(count + 1), rng.randint(0, min(count, 8))))
        states = [str(sum(1 for c in changes if c >= i)) for i in range(count + 1)]
        reads: list[int] = []

        def state(
            index: int, states: list[str] = states, reads: list[int] = reads
        ) -> tuple[str, str]:
            reads.append(index)
            return (states[index], "")

        scan = [i for i in range(count) if states[i] != states[i + 1]]
        assert bisect_changes(count, state) == scan
        if count >= 100 and len(scan) <= 2:
            assert len(set(reads)) < count / 4


def test_an_entry_is_cut_out_of_the_ledger_as_the_whole_file_holds_it(
    story: tuple[Repo, Git, str],
) -> None:
    made, _, oid = story
    raw = made.ledger_path("development").read_bytes()
    doc = json.loads(raw)
    key = f"organization:{oid}"
    assert entry_at(raw, key) == (doc["records"][key], None)
    compact = json.dumps(doc).encode()  # not the tool's layout: the whole file is read
    assert entry_at(compact, key) == (doc["records"][key], None)
    assert entry_at(raw, "organization:9.9") == (None, None)
    assert entry_at(None, key) == (None, None)


@pytest.mark.parametrize(
    "hostile",
    [
        b'{"records": {"organization:1.2": {"payload": NaN}}}',
        b'{"records": {"organization:1.2": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"records": {"organization:1.2": {"name": "\\ud800"}}}',
        b"not json at all",
    ],
    ids=["nan", "deep", "surrogate", "garbage"],
)
def test_a_version_of_the_ledger_that_is_no_ledger_is_read_as_holding_nothing(
    hostile: bytes,
) -> None:
    # git keeps whatever was once committed; history reads it with the strict reader.
    assert entry_at(hostile, "organization:1.2") == (None, None)
