"""What is read out of a records repository's git (reconciler.git.reader), against real git
repositories: commits at set times (tests/git_story.py), a shallow clone, paths with spaces and
non-ASCII names, a removed file, and a folder that is no repository at all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from git_story import Git

from reconciler.git import reader


@pytest.fixture
def story(tmp_path: Path) -> Git:
    """Three commits: a.yaml added, b and c (a name with a space and an accent) added with
    a.yaml changed, then a.yaml removed."""
    (tmp_path / "repo").mkdir()
    made = Git(tmp_path / "repo")
    (made.root / "orgs").mkdir()
    (made.root / "orgs" / "a.yaml").write_text("name: A\n", encoding="utf-8")
    made.commit("Add A")
    (made.root / "orgs" / "a.yaml").write_text("name: A2\n", encoding="utf-8")
    (made.root / "orgs" / "b c.yaml").write_text("name: B\n", encoding="utf-8")
    (made.root / "providers").mkdir()
    (made.root / "providers" / "é.yaml").write_text("name: É\n", encoding="utf-8")
    made.commit("Rename A, add B and É")
    (made.root / "orgs" / "a.yaml").unlink()
    made.commit("Remove A")
    return made


def test_file_versions_are_oldest_first_with_none_where_removed(story: Git) -> None:
    versions = list(reader.file_versions(story.root, "orgs/a.yaml"))
    assert [commit.subject for commit, _ in versions] == [
        "Add A",
        "Rename A, add B and É",
        "Remove A",
    ]
    assert [content for _, content in versions] == [b"name: A\n", b"name: A2\n", None]
    assert [commit.author for commit, _ in versions] == ["Ada Reviewer"] * 3


def test_blobs_read_odd_names_and_say_none_for_what_a_commit_lacks(story: Git) -> None:
    head = story.run("rev-parse", "HEAD").strip()
    first = story.run("rev-list", "--max-parents=0", "HEAD").strip()
    with reader.blobs(story.root) as blobs:
        assert blobs.read(head, "orgs/b c.yaml") == b"name: B\n"
        assert blobs.read(head, "providers/é.yaml") == "name: É\n".encode()
        assert blobs.read(head, "orgs/a.yaml") is None
        assert blobs.read(first, "orgs/b c.yaml") is None
        assert blobs.read(head, "orgs") is None  # a tree is not a file


def test_the_first_parent_log_of_folders_names_each_commits_files(story: Git) -> None:
    log = list(reader.folders_log(story.root, ["orgs", "providers"]))
    assert [commit.subject for commit, _ in log] == [
        "Remove A",
        "Rename A, add B and É",
        "Add A",
    ]
    changed = {commit.subject: sorted(c.path for c in changes) for commit, changes in log}
    assert changed["Rename A, add B and É"] == ["orgs/a.yaml", "orgs/b c.yaml", "providers/é.yaml"]


def test_tracked_and_head_and_last_commit(story: Git) -> None:
    (story.root / "orgs" / "new.yaml").write_text("name: N\n", encoding="utf-8")
    assert reader.tracked(story.root, ["orgs/a.yaml", "orgs/b c.yaml", "orgs/new.yaml"]) == {
        "orgs/a.yaml",
        "orgs/b c.yaml",
    }
    head = story.run("rev-parse", "HEAD").strip()
    assert reader.head_commit(story.root) == head
    last = reader.last_commit(story.root)
    assert last is not None
    assert (last.sha, last.subject) == (head, "Remove A")


def test_a_folder_outside_git_is_said_so_and_never_a_traceback(tmp_path: Path) -> None:
    assert not reader.in_repository(tmp_path)
    assert reader.head_commit(tmp_path) is None
    with pytest.raises(reader.GitError, match="git log failed"):
        reader.commits_of(tmp_path, "orgs/a.yaml")


def test_a_shallow_clone_names_where_its_history_is_cut(story: Git, tmp_path: Path) -> None:
    assert reader.shallow_commits(story.root) == frozenset()
    assert reader.shallow_note(frozenset()) == []
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{story.root}", str(clone)],
        check=True,
        capture_output=True,
    )
    head = story.run("rev-parse", "HEAD").strip()
    assert reader.shallow_commits(clone) == frozenset({head})
    [note] = reader.shallow_note(reader.shallow_commits(clone))
    assert head[:10] in note
    assert "git fetch --unshallow" in note
    # What the clone holds reads as its whole history: one commit.
    assert [c.sha for c in reader.commits_of(clone, "orgs/b c.yaml")] == [head]
