"""A fake of the GitHub REST API, as much as `reconciler github` uses, served on 127.0.0.1 the
way the sandbox stands in for Redox: issues (listed by label and state, pull requests among
them as GitHub lists them), labels, issue comments (paged by Link headers, as GitHub pages
them), the pull requests of a commit, their reviews, workflow runs, and an organization's teams
and memberships. Tokens are write tokens or read-only ones (a fork's: writes get GitHub's 403);
neither may read the organization's teams (GitHub's 403 for the workflow's token), which only a
members token may; unknown tokens get 401, unknown things 404, and it can be told to fail the
next requests with 5xx.

The test holds the state (`FakeGitHub`); the server runs in a thread of the test process, so
subprocesses (the workflow steps) and the test see the same comments and pulls."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

WRITE_TOKEN = "ghs_fake-workflow-token"
FORK_TOKEN = "ghs_fake-fork-read-only-token"
MEMBERS_TOKEN = "ghs_fake-app-members-read-token"
BOT = "github-actions[bot]"
DEFAULT_PER_PAGE = 30  # GitHub's default page size: a client that does not page misses items
STARTUP_LIMIT = 30.0  # a guard against a server that never starts, not a measurement


@dataclass
class FakeGitHub:
    """One repository's comments, pull requests and workflow runs, and the requests seen."""

    repository: str
    tokens: dict[str, str] = field(
        default_factory=lambda: {WRITE_TOKEN: "write", FORK_TOKEN: "read", MEMBERS_TOKEN: "members"}
    )
    comments: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    # "org/slug" -> login -> "active" | "pending"
    teams: dict[str, dict[str, str]] = field(default_factory=dict)
    workflows: set[str] = field(default_factory=lambda: {"sync.yml", "plan.yml", "drift.yml"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses for the next requests
    next_id: int = 1001
    next_number: int = 101  # of issues (pull requests set their own numbers)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Awaited before each request is handled, on the server's event loop: a test makes two
    # clients' requests interleave (a race) by holding one until the other arrives.
    hold: Callable[[str, str, dict[str, str]], Awaitable[None]] | None = None

    # -- what a test sets up and reads --------------------------------------------------------

    def add_comment(self, number: int, body: str, *, login: str = BOT) -> dict[str, Any]:
        with self.lock:
            return self._add_comment(number, body, login)

    def _add_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        comment = {
            "id": self.next_id,
            "issue": number,
            "body": body,
            "user": {"login": login},
            "html_url": f"https://github.com/{self.repository}/pull/{number}"
            f"#issuecomment-{self.next_id}",
        }
        self.next_id += 1
        self.comments.append(comment)
        return comment

    def add_issue(
        self,
        title: str,
        body: str,
        *,
        labels: tuple[str, ...] = (),
        login: str = BOT,
        state: str = "open",
        pull_request: bool = False,
    ) -> dict[str, Any]:
        """An issue (or, with pull_request, a pull request as the issues listing shows it)."""
        with self.lock:
            for name in labels:
                self.labels.setdefault(name, {"name": name, "color": "ededed", "description": ""})
            return self._add_issue(title, body, list(labels), login, state, pull_request)

    def _add_issue(
        self,
        title: str,
        body: str,
        labels: list[str],
        login: str,
        state: str = "open",
        pull_request: bool = False,
    ) -> dict[str, Any]:
        taken = {p["number"] for p in self.pulls} | {i["number"] for i in self.issues}
        while self.next_number in taken:
            self.next_number += 1
        number = self.next_number
        self.next_number += 1
        issue: dict[str, Any] = {
            "id": self.next_id,
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "state_reason": None,
            "user": {"login": login},
            # Unknown labels are dropped, as GitHub drops them on a new issue.
            "labels": [dict(self.labels[n]) for n in labels if n in self.labels],
            "html_url": f"https://github.com/{self.repository}/issues/{number}",
            "created_at": f"2025-01-01T00:00:{len(self.issues) % 60:02d}Z",
        }
        if pull_request:
            issue["pull_request"] = {"url": f"https://api.github.com/pulls/{number}"}
        self.next_id += 1
        self.issues.append(issue)
        return issue

    def issue(self, number: int) -> dict[str, Any]:
        with self.lock:
            return dict(next(i for i in self.issues if i["number"] == number))

    def open_issues(self, label: str | None = None) -> list[dict[str, Any]]:
        """The open issues (not pull requests), with `label` if given."""
        with self.lock:
            return [
                dict(i)
                for i in self.issues
                if i["state"] == "open"
                and "pull_request" not in i
                and (label is None or label in {lab["name"] for lab in i["labels"]})
            ]

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.comments if c["issue"] == number]

    def open_pull(
        self,
        number: int,
        head_sha: str,
        *,
        head_repo: str | None = None,
        author: str = "dana",
    ) -> None:
        with self.lock:
            self.pulls = [p for p in self.pulls if p["number"] != number]
            self.pulls.append(
                {
                    "number": number,
                    "state": "open",
                    "user": {"login": author, "type": "User"},
                    "head": {"sha": head_sha, "repo": {"full_name": head_repo or self.repository}},
                    "merge_commit_sha": None,
                    "merged_at": None,
                    "commits": [head_sha],
                }
            )

    def push_to_pull(self, number: int, head_sha: str) -> None:
        with self.lock:
            pull = next(p for p in self.pulls if p["number"] == number)
            pull["head"]["sha"] = head_sha
            pull["commits"].append(head_sha)

    def merge_pull(self, number: int, merge_sha: str) -> None:
        with self.lock:
            pull = next(p for p in self.pulls if p["number"] == number)
            pull.update(
                state="closed", merge_commit_sha=merge_sha, merged_at="2025-01-01T00:00:00Z"
            )

    def review(self, number: int, login: str, state: str, *, commit: str) -> dict[str, Any]:
        """`login` reviews pull request `number` at `commit` (APPROVED, CHANGES_REQUESTED,
        COMMENTED or DISMISSED), as GitHub records it."""
        with self.lock:
            review = {
                "id": self.next_id,
                "pull": number,
                "node_id": f"PRR_{self.next_id}",
                "user": {"login": login, "type": "User"},
                "body": "",
                "state": state,
                "commit_id": commit,
                "submitted_at": f"2025-01-01T00:{len(self.reviews) % 60:02d}:00Z",
                "author_association": "MEMBER",
                "html_url": f"https://github.com/{self.repository}/pull/{number}"
                f"#pullrequestreview-{self.next_id}",
            }
            self.next_id += 1
            self.reviews.append(review)
            return review

    def dismiss(self, review_id: int) -> None:
        """A review dismissed: GitHub keeps it, with the state DISMISSED."""
        with self.lock:
            next(r for r in self.reviews if r["id"] == review_id)["state"] = "DISMISSED"

    def add_run(self, status: str, *, workflow: str = "sync.yml", created_at: str = "") -> int:
        with self.lock:
            run_id = self.next_id
            self.next_id += 1
            self.runs.append(
                {
                    "id": run_id,
                    "workflow": workflow,
                    "status": status,
                    "created_at": created_at or "2025-01-01T00:00:00Z",
                    "html_url": f"https://github.com/{self.repository}/actions/runs/{run_id}",
                }
            )
            return run_id

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def seen(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests if method is None or r["method"] == method]

    # -- the ASGI app ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if self.hold is not None:
            await self.hold(scope["method"], scope["path"], query)
        with self.lock:
            status, payload, extra = self._handle(
                scope["method"], scope["path"], query, headers, body
            )
        data = json.dumps(payload).encode()
        response_headers = [(b"content-type", b"application/json")]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": data})

    def _handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        grant = self.tokens.get(token)
        self.requests.append(
            {"method": method, "path": path, "query": query, "grant": grant, "token": token}
        )
        if self.failures:
            return self.failures.pop(0), {"message": "Server Error"}, {}
        if grant is None:
            return 401, {"message": "Bad credentials"}, {}
        if path.startswith("/orgs/"):
            return self._orgs(method, path, grant)
        prefix = f"/repos/{self.repository}/"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}, {}
        rest = path.removeprefix(prefix)
        base = f"http://{headers.get('host', '127.0.0.1')}{path}"
        if method in {"POST", "PATCH"} and grant != "write":
            return 403, {"message": "Resource not accessible by integration"}, {}
        if match := re.fullmatch(r"issues/(\d+)/comments", rest):
            number = int(match[1])
            if method == "GET":
                items = [c for c in self.comments if c["issue"] == number]
                return self._page(items, query, base)
            if method == "POST":
                text = json.loads(body or b"{}").get("body")
                if not isinstance(text, str) or len(text) > 65_536:
                    return 422, {"message": "Validation Failed: body is too long"}, {}
                return 201, self._add_comment(number, text, BOT), {}
        if (match := re.fullmatch(r"issues/comments/(\d+)", rest)) and method == "PATCH":
            found = [c for c in self.comments if c["id"] == int(match[1])]
            if not found:
                return 404, {"message": "Not Found"}, {}
            text = json.loads(body or b"{}").get("body")
            if not isinstance(text, str) or len(text) > 65_536:
                return 422, {"message": "Validation Failed: body is too long"}, {}
            found[0]["body"] = text
            return 200, found[0], {}
        if (match := re.fullmatch(r"pulls/(\d+)/reviews", rest)) and method == "GET":
            number = int(match[1])
            if not any(p["number"] == number for p in self.pulls):
                return 404, {"message": "Not Found"}, {}
            items = [
                {k: v for k, v in r.items() if k != "pull"}
                for r in self.reviews
                if r["pull"] == number
            ]
            return self._page(items, query, base)
        if rest == "issues":
            return self._issues(method, query, body, base)
        if match := re.fullmatch(r"issues/(\d+)", rest):
            return self._issue(method, int(match[1]), body)
        if rest == "labels" and method == "POST":
            wanted = json.loads(body or b"{}")
            name = wanted.get("name")
            if not isinstance(name, str) or not name:
                return 422, {"message": "Validation Failed"}, {}
            if name in self.labels:
                error = {"resource": "Label", "code": "already_exists", "field": "name"}
                return 422, {"message": "Validation Failed", "errors": [error]}, {}
            self.labels[name] = {
                "name": name,
                "color": str(wanted.get("color") or "ededed"),
                "description": str(wanted.get("description") or ""),
            }
            return 201, self.labels[name], {}
        if (match := re.fullmatch(r"labels/([^/]+)", rest)) and method == "GET":
            found = self.labels.get(match[1])
            return (200, found, {}) if found else (404, {"message": "Not Found"}, {})
        if (match := re.fullmatch(r"commits/([0-9a-f]{7,40})/pulls", rest)) and method == "GET":
            sha = match[1]
            items = [p for p in self.pulls if p["merge_commit_sha"] == sha or sha in p["commits"]]
            return self._page(items, query, base)
        if (match := re.fullmatch(r"actions/workflows/([^/]+)/runs", rest)) and method == "GET":
            if match[1] not in self.workflows:
                return 404, {"message": "Not Found"}, {}
            items = [r for r in self.runs if r["workflow"] == match[1]]
            if "status" in query:
                items = [r for r in items if r["status"] == query["status"]]
            if query.get("created", "").startswith(">="):
                since = query["created"][2:]
                items = [r for r in items if r["created_at"] >= since]
            status, page, links = self._page(items, query, base)
            return status, {"total_count": len(items), "workflow_runs": page}, links
        return 404, {"message": "Not Found"}, {}

    def _orgs(self, method: str, path: str, grant: str) -> tuple[int, Any, dict[str, str]]:
        """GET /orgs/{org}/teams/{slug} and .../memberships/{login}, as GitHub answers them: a
        token without the organization's Members permission gets 403; a team the token cannot
        see, or a login that is no member, 404."""
        if method != "GET":
            return 404, {"message": "Not Found"}, {}
        if grant != "members":
            return 403, {"message": "Resource not accessible by integration"}, {}
        if match := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)", path):
            if f"{match[1]}/{match[2]}" not in self.teams:
                return 404, {"message": "Not Found"}, {}
            return 200, {"slug": match[2], "organization": {"login": match[1]}}, {}
        if match := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", path):
            team = self.teams.get(f"{match[1]}/{match[2]}")
            state = (team or {}).get(match[3])
            if state is None:
                return 404, {"message": "Not Found"}, {}
            return 200, {"role": "member", "state": state, "url": path}, {}
        return 404, {"message": "Not Found"}, {}

    def _issues(
        self, method: str, query: dict[str, str], body: bytes, base: str
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            wanted = json.loads(body or b"{}")
            title, text = wanted.get("title"), wanted.get("body", "")
            if not isinstance(title, str) or not title or not isinstance(text, str):
                return 422, {"message": "Validation Failed"}, {}
            if len(text) > 65_536:
                return 422, {"message": "Validation Failed: body is too long"}, {}
            labels = [str(n) for n in wanted.get("labels") or []]
            return 201, self._add_issue(title, text, labels, BOT), {}
        if method != "GET":
            return 404, {"message": "Not Found"}, {}
        state = query.get("state", "open")
        items = [i for i in self.issues if state == "all" or i["state"] == state]
        for name in filter(None, query.get("labels", "").split(",")):
            items = [i for i in items if name in {lab["name"] for lab in i["labels"]}]
        # GitHub's default order is newest first: a client must not take the first for oldest.
        newest_first = query.get("direction", "desc") == "desc"
        items = sorted(items, key=lambda i: i["number"], reverse=newest_first)
        return self._page(items, query, base)

    def _issue(self, method: str, number: int, body: bytes) -> tuple[int, Any, dict[str, str]]:
        found = [i for i in self.issues if i["number"] == number]
        if not found:
            return 404, {"message": "Not Found"}, {}
        issue = found[0]
        if method == "GET":
            return 200, dict(issue), {}
        if method != "PATCH":
            return 404, {"message": "Not Found"}, {}
        wanted = json.loads(body or b"{}")
        if "body" in wanted and len(str(wanted["body"])) > 65_536:
            return 422, {"message": "Validation Failed: body is too long"}, {}
        if wanted.get("state") not in (None, "open", "closed"):
            return 422, {"message": "Validation Failed: state"}, {}
        for key in ("title", "body", "state", "state_reason"):
            if key in wanted:
                issue[key] = wanted[key]
        return 200, dict(issue), {}

    @staticmethod
    def _page(
        items: list[dict[str, Any]], query: dict[str, str], base: str
    ) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(query.get("per_page", DEFAULT_PER_PAGE)), 100)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        kept = {k: v for k, v in query.items() if k != "page"}
        if page * per_page < len(items):
            links.append(f'<{base}?{urlencode({**kept, "page": page + 1})}>; rel="next"')
            last = (len(items) + per_page - 1) // per_page
            links.append(f'<{base}?{urlencode({**kept, "page": last})}>; rel="last"')
        return 200, [dict(i) for i in chunk], ({"link": ", ".join(links)} if links else {})


@contextmanager
def served(fake: FakeGitHub) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    config = uvicorn.Config(
        fake, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-github", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_LIMIT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake GitHub API did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
