"""The GitHub REST API, as much as the workflows need: issues, their labels and comments, the
pull requests of a commit, and workflow runs. Paging by Link headers, retries on 5xx, typed
errors that say what to fix. The token is sent to the API's own host only and never appears
in a message."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from reconciler.errors import ReconcilerError

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 items: far beyond any pull request's comments or queued runs


class GitHubError(ReconcilerError):
    """GitHub refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubForbidden(GitHubError):
    """403: the token may not do this (a fork's read-only token, a missing permission)."""


class GitHubNotFound(GitHubError):
    """404: no such repository, pull request, comment or workflow (or the token cannot see it)."""


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class GitHub:
    """A client of one repository's REST API (GITHUB_API_URL, GITHUB_TOKEN)."""

    def __init__(
        self,
        *,
        repository: str,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        if not token:
            raise GitHubError(
                "GITHUB_TOKEN is not set: give the step `env: GITHUB_TOKEN: ${{ github.token }}`"
            )
        if "/" not in repository:
            raise GitHubError(f"{repository!r} is not a repository name (owner/name)")
        url = httpx.URL(api_url.rstrip("/"))
        if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.host)):
            raise GitHubError(
                f"GITHUB_API_URL {api_url!r} must be https:// (http:// only for a loopback "
                "address): the token would cross the network in clear text"
            )
        self.repository = repository
        self.api_url = str(url)
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(
            base_url=self.api_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "redox-reconciler",
            },
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One call, retried on 5xx, 429 and dropped connections; GitHubError otherwise."""
        if path.startswith(("http://", "https://")) and not path.startswith(self.api_url + "/"):
            # A Link header pointing elsewhere must not receive the token.
            raise GitHubError(f"GitHub sent a link outside {self.api_url}: {path}")
        what = f"{method} {httpx.URL(path).path or path}"
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise GitHubError(f"GitHub did not answer {what}: {exc!r}") from None
                self._wait(attempt, None, f"{type(exc).__name__}")
                continue
            if response.status_code in RETRYABLE and attempt < self.retries:
                self._wait(attempt, response, str(response.status_code))
                continue
            if response.is_success:
                return response
            raise _error(what, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, response: httpx.Response | None, why: str) -> None:
        delay = self.backoff * 2**attempt
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        logger.info("GitHub answered %s: retrying in %.1f s", why, delay)
        self.sleep(delay)

    def paged(self, path: str, *, params: Mapping[str, str | int] | None = None) -> Iterator[Any]:
        """Every item of a listing, page after page (Link: rel="next"). A listing that is an
        object (workflow runs) yields the items of its one list."""
        query: Mapping[str, str | int] | None = {"per_page": PER_PAGE, **(params or {})}
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.request("GET", url, params=query)
            body = response.json()
            if isinstance(body, dict):
                lists = [v for v in body.values() if isinstance(v, list)]
                body = lists[0] if len(lists) == 1 else []
            yield from body
            url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the query
        raise GitHubError(f"GitHub listed more than {MAX_PAGES} pages of {path}")

    # -- what the workflows need ---------------------------------------------------------------

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        """The comments of an issue or pull request, oldest first."""
        return list(self.paged(f"/repos/{self.repository}/issues/{number}/comments"))

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        path = f"/repos/{self.repository}/issues/{number}/comments"
        created: dict[str, Any] = self.request("POST", path, json={"body": body}).json()
        return created

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        path = f"/repos/{self.repository}/issues/comments/{comment_id}"
        updated: dict[str, Any] = self.request("PATCH", path, json={"body": body}).json()
        return updated

    def issues(self, *, labels: str, state: str = "open") -> list[dict[str, Any]]:
        """The issues (not pull requests, which GitHub lists too) with every label of `labels`
        (comma-separated), oldest first. The list endpoint, not the search: search is
        eventually consistent, and would miss an issue opened a moment ago."""
        params: dict[str, str | int] = {"labels": labels, "state": state}
        params.update(sort="created", direction="asc")
        found = self.paged(f"/repos/{self.repository}/issues", params=params)
        return [issue for issue in found if "pull_request" not in issue]

    def issue(self, number: int) -> dict[str, Any]:
        found: dict[str, Any] = self.request(
            "GET", f"/repos/{self.repository}/issues/{number}"
        ).json()
        return found

    def create_issue(self, title: str, body: str, *, labels: list[str]) -> dict[str, Any]:
        payload = {"title": title, "body": body, "labels": labels}
        path = f"/repos/{self.repository}/issues"
        created: dict[str, Any] = self.request("POST", path, json=payload).json()
        return created

    def update_issue(self, number: int, **fields: str) -> dict[str, Any]:
        """Edit an issue: `body`, `title`, `state` (open, closed), `state_reason`."""
        path = f"/repos/{self.repository}/issues/{number}"
        updated: dict[str, Any] = self.request("PATCH", path, json=fields).json()
        return updated

    def ensure_label(self, name: str, *, color: str, description: str) -> None:
        """Create the label unless the repository has it (a new issue's unknown labels are
        dropped, not created)."""
        path = f"/repos/{self.repository}/labels"
        try:
            self.request("GET", f"{path}/{name}")
            return
        except GitHubNotFound:
            pass
        payload = {"name": name, "color": color, "description": description}
        try:
            self.request("POST", path, json=payload)
        except GitHubError as exc:
            if exc.status != 422:  # 422: another run created it a moment ago
                raise

    def pulls_of_commit(self, sha: str) -> list[dict[str, Any]]:
        """The pull requests a commit belongs to (merged ones: its merge commit)."""
        return list(self.paged(f"/repos/{self.repository}/commits/{sha}/pulls"))

    def pull_reviews(self, number: int) -> list[dict[str, Any]]:
        """The reviews of a pull request, oldest first (every page)."""
        return list(self.paged(f"/repos/{self.repository}/pulls/{number}/reviews"))

    def team_exists(self, org: str, slug: str) -> bool:
        """Whether the token can see the team `org/slug` (GitHub answers 404 alike for a team
        that does not exist and for one the token may not read)."""
        try:
            self.request("GET", f"/orgs/{org}/teams/{slug}")
        except GitHubNotFound:
            return False
        return True

    def team_membership(self, org: str, slug: str, login: str) -> str:
        """`login`'s membership of the team: "active", "pending", or "absent" (404). Needs a
        token that may read the organization's members: GitHubForbidden otherwise."""
        path = f"/orgs/{org}/teams/{slug}/memberships/{login}"
        try:
            found = self.request("GET", path).json()
        except GitHubNotFound:
            return "absent"
        state = found.get("state") if isinstance(found, dict) else None
        return state if state in ("active", "pending") else "absent"

    def workflow_runs(
        self, workflow: str, *, status: str | None = None, created: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs of a workflow (by file name), filtered by status or creation time."""
        params: dict[str, str | int] = {}
        if status:
            params["status"] = status
        if created:
            params["created"] = created
        path = f"/repos/{self.repository}/actions/workflows/{workflow}/runs"
        return list(self.paged(path, params=params))


def _error(what: str, response: httpx.Response) -> GitHubError:
    status = response.status_code
    try:
        said = str(response.json().get("message") or "")
    except (ValueError, AttributeError):
        said = ""
    detail = f"{status}{': ' + said if said else ''}"
    if status == 401:
        return GitHubError(f"GitHub refused the token for {what} ({detail}): check GITHUB_TOKEN")
    if status == 403 and response.headers.get("x-ratelimit-remaining") == "0":
        return GitHubForbidden(
            f"GitHub's rate limit is used up ({what}, {detail}); it resets at "
            f"{response.headers.get('x-ratelimit-reset', 'a later time')} (epoch seconds)",
            status=status,
        )
    if status == 403:
        return GitHubForbidden(
            f"GitHub refused {what} ({detail}). The workflow's token lacks the permission: a "
            "pull request from a fork gets a read-only token; otherwise grant it under "
            "`permissions:` (pull-requests: write for comments on pull requests, issues: write "
            "for the drift issue, actions: read for runs)",
            status=status,
        )
    if status == 404:
        return GitHubNotFound(
            f"GitHub has no {what} ({detail}): check the repository, the number or file name, "
            "and that the token may read it",
            status=status,
        )
    return GitHubError(f"GitHub failed {what} ({detail})", status=status)
