"""The drift issue (SPEC 5): one open issue `Drift in ENV` (label `drift`) per environment,
kept current by each drift check and closed when the drift is gone.

The issue is found by its label, its author (the workflow's bot) and the hidden marker that
names the environment, through the issues list (consistent at once; the search API is not);
issues without all three are never touched. Its body carries the records it lists in a hidden
marker (compressed JSON), so a later run knows what it said: a rotating drift check queries
one part of the records a day, and a record found drifting stays listed until a run queries
it again, so a clean part never closes an issue over records it did not look at.

Two runs may race (a scheduled check and one started by hand, or the action's and the
workflow's): each can see no issue and open one. A run that opened an issue lists them again
right after; when it finds an older one, it closes its own as a duplicate pointing there and
updates the older instead. Both runs decide alike (the lowest number is kept), so however
their calls interleave, one open issue is left."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.github.client import GitHub
from reconciler.github.comment import BOT_LOGIN
from reconciler.github.drift_report import DriftReport
from reconciler.plan import FieldChange
from reconciler.render.drift_issue import (
    ISSUE_LIMIT,
    issue_marker,
    issue_title,
    render_changed_comment,
    render_closed_comment,
    render_drift_issue,
    render_duplicate_comment,
)
from reconciler.views.drift import Drift, Finding, Tracked

logger = logging.getLogger(__name__)

LABEL = "drift"
LABEL_COLOR = "d93f0b"
LABEL_DESCRIPTION = "The Redox directory differs from what reconciler last applied"
STATE_LIMIT = 24_000  # characters of the hidden state, of the body's 65,536
UNPACK_LIMIT = 16 * 1024 * 1024  # bytes the hidden state may inflate to
_STATE = re.compile(r"<!-- reconciler:drift-state (?P<data>[A-Za-z0-9+/=]*) -->")

Outcome = Literal["opened", "updated", "unchanged", "closed", "clean"]


@dataclass(frozen=True)
class IssueVerdict:
    """What the drift check did to the environment's issue: `opened` one, `updated` it (the
    set of drifted records changed: edited and commented), left it `unchanged` (the same
    records: the body refreshed, no comment), `closed` it, or nothing (`clean`: no drift, no
    issue). `duplicates`: second issues of the environment it closed."""

    outcome: Outcome
    number: int | None
    url: str
    records: int
    added: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    duplicates: tuple[int, ...] = ()


# -- the hidden state -------------------------------------------------------------------------


def _record(tracked: Tracked, *, with_fields: bool) -> dict[str, Any]:
    d = tracked.drift
    fields = [[f.path, f.before, f.after] for f in d.fields] if with_fields else []
    return {
        "key": d.key,
        "kind": d.kind,
        "identity": d.identity,
        "name": d.name,
        "finding": d.finding.value,
        "source": d.source,
        "applied_at": d.applied_at,
        "fields": fields,
        "found_at": tracked.found_at,
        "checked_at": tracked.checked_at,
    }


def _pack(document: Any) -> str:
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(data, 9)).decode()


def state_marker(records: Sequence[Tracked]) -> str:
    """The records in a hidden marker, within STATE_LIMIT: without their field values when
    those do not fit (the body still shows what fits), and without the last records when
    even that does not (they are found again when their part is checked)."""
    for with_fields in (True, False):
        packed = _pack([_record(t, with_fields=with_fields) for t in records])
        if len(packed) <= STATE_LIMIT:
            return f"<!-- reconciler:drift-state {packed} -->"
    kept = list(records)
    while kept:
        kept = kept[: len(kept) * 3 // 4]
        packed = _pack([_record(t, with_fields=False) for t in kept])
        if len(packed) <= STATE_LIMIT:
            break
    logger.warning(
        "the drift issue keeps %d of %d drifted records for the next run: more do not fit",
        len(kept),
        len(records),
    )
    return f"<!-- reconciler:drift-state {packed} -->"


def read_state(body: str) -> list[Tracked]:
    """The records an issue body lists, from its hidden marker; none when it is missing or
    damaged (a person edited the body: the next comment then lists every record as new)."""
    found = _STATE.search(body or "")
    if found is None:
        return []
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(found["data"], validate=True), UNPACK_LIMIT)
        if inflater.unconsumed_tail:
            return []
        document = json.loads(raw)
        return [_tracked(item) for item in document]
    except (binascii.Error, zlib.error, ValueError, TypeError, KeyError, AttributeError):
        logger.warning("the drift issue's hidden state is damaged: it is written anew")
        return []


def _tracked(item: Mapping[str, Any]) -> Tracked:
    fields = tuple(FieldChange(str(p), before, after) for p, before, after in item["fields"])
    drift = Drift(
        str(item["key"]),
        str(item["kind"]),
        str(item["identity"]),
        Finding(item["finding"]),
        str(item["source"]) if item.get("source") is not None else None,
        fields,
        name=str(item.get("name") or ""),
        applied_at=str(item.get("applied_at") or ""),
    )
    return Tracked(drift, str(item["found_at"]), str(item["checked_at"]))


# -- the decisions ----------------------------------------------------------------------------


def tracked(previous: Sequence[Tracked], report: DriftReport, *, now: str) -> list[Tracked]:
    """The records the issue lists after `report`: those it found drifting (since when they
    were first found, if the issue had them already), and those the issue listed that this
    run did not query (another part of the rotation), as they were. A listed record this run
    queried and did not find drifting is gone."""
    before = {t.drift.key: t for t in previous}
    found = {d.key for d in report.drifts}
    current = [
        Tracked(d, before[d.key].found_at if d.key in before else now, now) for d in report.drifts
    ]
    current += [
        t for t in previous if t.drift.key not in found and not report.checks(t.drift.identity)
    ]
    return sorted(current, key=lambda t: t.drift.key)


def is_drift_issue(issue: Mapping[str, Any], environment: str, *, bot: str = BOT_LOGIN) -> bool:
    """Whether `issue` is the drift issue of `environment`: the bot's, with the marker."""
    author = (issue.get("user") or {}).get("login")
    body = str(issue.get("body") or "")
    return author == bot and body.startswith(issue_marker(environment))


def drift_issues(github: GitHub, environment: str) -> list[dict[str, Any]]:
    """The open drift issues of `environment`, oldest (lowest number) first."""
    found = [i for i in github.issues(labels=LABEL) if is_drift_issue(i, environment)]
    return sorted(found, key=lambda i: int(i["number"]))


@dataclass(frozen=True)
class _Run:
    """What one drift-issue step knows: the report, when, and the run's link."""

    report: DriftReport
    now: str
    run_url: str | None

    def body(self, records: Sequence[Tracked]) -> str:
        r = self.report
        return render_drift_issue(
            r.environment,
            records,
            checked=r.checked,
            ledgered=r.ledgered,
            part=r.part,
            checked_at=self.now,
            run_url=self.run_url,
            hidden=state_marker(records),
            limit=ISSUE_LIMIT,
        )


def keep_drift_issue(
    github: GitHub, report: DriftReport, *, now: str, run_url: str | None
) -> IssueVerdict:
    """Open, update or close the drift issue of the report's environment."""
    run = _Run(report, now, run_url)
    env = report.environment
    issues = drift_issues(github, env)
    duplicates = tuple(_close_duplicates(github, issues))
    kept = issues[0] if issues else None
    previous = read_state(str(kept.get("body") or "")) if kept else []
    current = tracked(previous, report, now=now)
    if not current:
        if kept is None:
            return IssueVerdict("clean", None, "", 0, duplicates=duplicates)
        comment = render_closed_comment(
            env, checked=report.checked, ledgered=report.ledgered, part=report.part, run_url=run_url
        )
        number = int(kept["number"])
        github.create_comment(number, comment)
        github.update_issue(number, state="closed", state_reason="completed")
        resolved = tuple(t.drift.identity for t in previous)
        return IssueVerdict(
            "closed", number, _url(kept), 0, resolved=resolved, duplicates=duplicates
        )
    if kept is None:
        github.ensure_label(LABEL, color=LABEL_COLOR, description=LABEL_DESCRIPTION)
        created = github.create_issue(issue_title(env), run.body(current), labels=[LABEL])
        # A run racing this one may have opened one too: the oldest is kept, by both.
        issues = drift_issues(github, env)
        oldest = issues[0] if issues else created
        if int(oldest["number"]) == int(created["number"]):
            added = tuple(t.drift.identity for t in current)
            return IssueVerdict(
                "opened", int(created["number"]), _url(created), len(current), added=added
            )
        duplicates += tuple(_close_duplicates(github, issues))
        kept = github.issue(int(oldest["number"]))
        previous = read_state(str(kept.get("body") or ""))
        current = tracked(previous, report, now=now)
    return _update(github, run, kept, previous, current, duplicates)


def _update(
    github: GitHub,
    run: _Run,
    issue: Mapping[str, Any],
    previous: Sequence[Tracked],
    current: Sequence[Tracked],
    duplicates: tuple[int, ...],
) -> IssueVerdict:
    number = int(issue["number"])
    body = run.body(current)
    if body != issue.get("body"):
        github.update_issue(number, body=body)
    before = {t.drift.key for t in previous}
    after = {t.drift.key for t in current}
    added = [t for t in current if t.drift.key not in before]
    resolved = [t for t in previous if t.drift.key not in after]
    ids = (tuple(t.drift.identity for t in added), tuple(t.drift.identity for t in resolved))
    if before == after:
        return IssueVerdict("unchanged", number, _url(issue), len(current), duplicates=duplicates)
    comment = render_changed_comment(
        run.report.environment,
        added=added,
        resolved=resolved,
        total=len(current),
        run_url=run.run_url,
    )
    github.create_comment(number, comment)
    return IssueVerdict("updated", number, _url(issue), len(current), *ids, duplicates)


def _close_duplicates(github: GitHub, issues: Sequence[Mapping[str, Any]]) -> list[int]:
    """Close every issue of `issues` but the first (the oldest), pointing to it."""
    if len(issues) < 2:
        return []
    kept = int(issues[0]["number"])
    closed = []
    for issue in issues[1:]:
        number = int(issue["number"])
        github.create_comment(number, render_duplicate_comment(kept))
        github.update_issue(number, state="closed", state_reason="not_planned")
        closed.append(number)
    return closed


def _url(issue: Mapping[str, Any]) -> str:
    return str(issue.get("html_url") or "")
