"""`reconciler audit verify`, run as a subprocess on real trails in real git repositories: the
chain names the first bad line, git names the commit whose version does not extend the one
before, and an anchor finds a history rewritten whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_server import clean_environ, run_cli

from reconciler.audit import GENESIS, line_hash
from reconciler.formats.jsontext import canonical_json

ENV = "development"
TRAIL = "audit/development.jsonl"
DRIVER = Path(__file__).resolve().parents[1] / "audit_driver.py"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Dana Admin",
    "GIT_AUTHOR_EMAIL": "dana@example.org",
    "GIT_COMMITTER_NAME": "Dana Admin",
    "GIT_COMMITTER_EMAIL": "dana@example.org",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **IDENTITY},
    )
    return done.stdout.strip()


def append(repo: Path, count: int, calls: int = 2) -> list[int]:
    """`count` entries appended by a separate process (the way an apply will append them)."""
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(repo), ENV, str(count), str(calls)],
        capture_output=True,
        text=True,
        check=True,
        env=clean_environ(),
        timeout=120,
    )
    return [int(seq) for seq in done.stdout.split()]


def verify(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(repo, "audit", "verify", "--env", ENV, *args)


def lines(repo: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (repo / TRAIL).read_text("utf-8").splitlines()]


def write(repo: Path, documents: list[dict[str, object]], *, rechain: bool) -> None:
    """The trail with these lines; with `rechain`, every seq, prev and hash made again (what
    someone who rewrites the trail and knows the rule does)."""
    previous = GENESIS
    out = []
    for number, document in enumerate(documents, start=1):
        if rechain:
            document = {**document, "seq": number, "prev": previous}
            document["hash"] = line_hash(document)
            previous = str(document["hash"])
        out.append(canonical_json(document) + "\n")
    (repo / TRAIL).parent.mkdir(exist_ok=True)
    (repo / TRAIL).write_text("".join(out), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "records"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("records\n", encoding="utf-8")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "start")
    return path


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "--", TRAIL)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


# -- the chain --------------------------------------------------------------------------------


def test_two_appends_leave_two_lines_that_verify(repo: Path) -> None:
    assert append(repo, 2) == [1, 2]
    assert len(lines(repo)) == 2
    done = verify(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{TRAIL}: 2 lines, each chained to the one before." in done.stdout
    assert "Verified." in done.stdout


def test_one_character_of_line_1s_actor_changed_is_named(repo: Path) -> None:
    append(repo, 2)
    text = (repo / TRAIL).read_text("utf-8")
    first, rest = text.split("\n", 1)
    assert '"actor":"audit-driver"' in first
    (repo / TRAIL).write_text(first.replace("audit-driver", "audit-drivex") + "\n" + rest, "utf-8")
    json.loads(first.replace("audit-driver", "audit-drivex"))  # still valid JSON
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 1: does not match its hash: the line was changed after it was " in (
        done.stdout
    )
    assert "Not verified." in done.stdout


def test_a_removed_line_is_named(repo: Path) -> None:
    append(repo, 4)
    documents = lines(repo)
    write(repo, documents[:1] + documents[2:], rechain=False)
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 2: has seq 3 where 2 belongs" in done.stdout
    assert "The 1 line before it is sound" in done.stdout


def test_a_removed_line_with_the_seqs_renumbered_is_named_by_its_prev(repo: Path) -> None:
    append(repo, 4)
    documents = lines(repo)
    kept = [documents[0], {**documents[2], "seq": 2}, {**documents[3], "seq": 3}]
    for document in kept[1:]:
        document["hash"] = line_hash(document)  # each line made consistent, but not chained
    write(repo, kept, rechain=False)
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 2: does not follow the line before it" in done.stdout


def test_swapped_lines_are_named(repo: Path) -> None:
    append(repo, 3)
    documents = lines(repo)
    write(repo, [documents[1], documents[0], documents[2]], rechain=False)
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 1: has seq 2 where 1 belongs" in done.stdout


def test_a_line_cut_short_is_named_never_dropped(repo: Path) -> None:
    append(repo, 2)
    data = (repo / TRAIL).read_bytes()
    (repo / TRAIL).write_bytes(data + data[: len(data) // 3])  # an older version's torn write
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 3: is cut short" in done.stdout
    assert f"git checkout -- {TRAIL}" in done.stdout


def test_a_line_of_another_environments_trail_is_named(repo: Path) -> None:
    append(repo, 2)
    documents = lines(repo)
    documents[1]["environment"] = "production"
    write(repo, documents, rechain=True)
    done = verify(repo)
    assert done.returncode == 1
    assert f"{TRAIL}, line 2: is an entry of environment 'production'" in done.stdout


def test_a_trail_outside_git_has_its_chain_checked(tmp_path: Path) -> None:
    append(tmp_path, 1)
    done = verify(tmp_path)
    assert done.returncode == 0
    assert "is not in a git repository with a commit: only its chain was checked" in done.stdout


def test_no_trail_yet_is_sound_and_says_so(repo: Path) -> None:
    done = verify(repo)
    assert done.returncode == 0
    assert f"{TRAIL}: 0 lines" in done.stdout
    assert f"{TRAIL} has no commit: only its chain was checked." in done.stdout


# -- git ---------------------------------------------------------------------------------------


def test_each_committed_version_extends_the_one_before(repo: Path) -> None:
    append(repo, 2)
    commit(repo, "ledger: development after applying 1")
    append(repo, 1)
    commit(repo, "ledger: development after applying 2")
    append(repo, 1)
    done = verify(repo)
    assert done.returncode == 0, done.stdout
    assert "Git: 2 committed versions of it, each extending the one before" in done.stdout
    assert f"1 line of {TRAIL} is not committed yet." in done.stdout


def test_a_committed_line_rewritten_with_the_chain_recomputed_names_the_commit(
    repo: Path,
) -> None:
    append(repo, 3)
    good = commit(repo, "ledger: development after applying 1")
    documents = lines(repo)
    documents[0]["actor"] = "somebody-else"
    write(repo, documents, rechain=True)
    assert verify(repo).returncode == 1  # not yet committed: the work tree is named
    rewrite = commit(repo, "Tidy the audit trail")
    append(repo, 1)  # and appending goes on after it
    done = verify(repo)
    assert done.returncode == 1
    # The chain itself is sound: the rewrite recomputed every hash.
    assert f"{TRAIL}: 4 lines, each chained to the one before." in done.stdout
    assert f"the version committed in {rewrite[:12]} (" in done.stdout
    assert (
        "'Tidy the audit trail') does not extend the version committed before it in "
        f"{good[:12]}: it changes line 1 of {TRAIL}" in done.stdout
    )
    assert f"git show {rewrite[:12]} -- {TRAIL}" in done.stdout
    found = json.loads(verify(repo, "--format", "json").stdout)
    assert found["ok"] is False
    assert found["bad_version"]["commit"] == rewrite
    assert found["bad_version"]["previous"] == good


def test_a_commit_that_cuts_the_trail_short_or_removes_it_is_named(repo: Path) -> None:
    append(repo, 3)
    commit(repo, "three")
    write(repo, lines(repo)[:2], rechain=False)
    cut = commit(repo, "two")
    done = verify(repo)
    assert done.returncode == 1
    assert f"{cut[:12]}" in done.stdout
    assert "its lines from line 3 on were removed" in done.stdout

    git(repo, "rm", "-q", "--", TRAIL)
    git(repo, "commit", "-q", "-m", "gone")
    done = verify(repo)
    assert done.returncode == 1
    assert f"{cut[:12]}" in done.stdout  # the first bad version is still the first named


def test_a_rewritten_history_passes_the_prefix_check_but_not_an_anchor(repo: Path) -> None:
    append(repo, 2)
    commit(repo, "first sync")
    noted = lines(repo)[-1]["hash"]  # what the auditor noted at the last audit
    append(repo, 1)
    commit(repo, "second sync")
    assert verify(repo, "--anchor", str(noted)).returncode == 0
    # Someone rewrites line 1, recomputes the chain and rewrites every commit since (a
    # force-push of a branch no protection guards): each version extends the one before.
    documents = lines(repo)
    documents[0]["actor"] = "somebody-else"
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    write(repo, documents[:2], rechain=True)
    commit(repo, "first sync")
    write(repo, documents, rechain=True)
    commit(repo, "second sync")
    done = verify(repo)
    assert done.returncode == 0  # what the chain and git alone cannot see (README says so)
    done = verify(repo, "--anchor", str(noted))
    assert done.returncode == 1
    assert f"No line of {TRAIL} has the hash {noted}" in done.stdout


def test_an_anchor_that_is_no_hash_is_refused(repo: Path) -> None:
    done = verify(repo, "--anchor", "abc")
    assert done.returncode == 1
    assert "--anchor 'abc' is not a line's hash" in done.stderr


def test_a_shallow_clone_says_what_it_could_not_compare(repo: Path, tmp_path: Path) -> None:
    for n in range(3):
        append(repo, 1)
        commit(repo, f"sync {n}")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)],
        check=True,
        capture_output=True,
    )
    done = verify(clone)
    assert done.returncode == 0, done.stdout
    assert "This is a shallow clone: versions committed before" in done.stdout
