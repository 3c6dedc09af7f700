"""The report page as text: every value escaped wherever it appears, the policy that allows only
the page's own style and script, the tree's lists balanced however deep the hierarchy is."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser

from reconciler.model import Action
from reconciler.render.html import render_report_html
from reconciler.views.graph import Graph, Node, Root, arrange
from reconciler.views.history import Commit, FieldChange, FileEvent, History, LedgerEvent
from reconciler.views.report import AuditTrail, Report
from reconciler.views.status import IN_SYNC, UNVERIFIED, Row, Status

EVIL = "<script>window.__pwned=1</script>\"'&<img src=x onerror=alert(1)>"


class Elements(HTMLParser):
    """Every start tag and its attributes, and the text of script and style elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in self.raw else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.raw[self._in].append(data)
        else:
            self.text.append(data)


def _commit(n: int, subject: str = EVIL, author: str = EVIL) -> Commit:
    return Commit(f"{n:040x}", "2024-05-0{n}T10:00:00Z", author, subject, (), 1_700_000_000 + n)


def _report(name: str = EVIL, env: str = "production") -> Report:
    key = f"organization:{EVIL}"
    row = Row(key, "organization", EVIL, name, f"orgs/{EVIL}.yaml", {env: UNVERIFIED})
    plain = Row("organization:1.2.3", "organization", "1.2.3", "Plain", None, {env: IN_SYNC})
    node = Node(key, "organization", EVIL, name, parents=("organization:2.16",), active=False)
    gateway = Node("organization:2.16", "organization", "2.16", "Redox gateway", root=Root.GATEWAY)
    history = History(
        key=key,
        kind="organization",
        identity=EVIL,
        name=name,
        file=f"orgs/{EVIL}.yaml",
        files=(
            FileEvent(
                _commit(2),
                f"orgs/{EVIL}.yaml",
                "renamed",
                f"orgs/{EVIL}-old.yaml",
                (FieldChange(f"Name{EVIL}", before=EVIL, after="x"),),
            ),
            FileEvent(_commit(1), "orgs/a.yaml", "modified", None, (), invalid=EVIL),
        ),
        ledgers={
            env: (
                LedgerEvent(env, _commit(3), EVIL, EVIL, EVIL, intent=EVIL),
                LedgerEvent(env, _commit(4), None, None, None, intent="update"),
            )
        },
        notes=(EVIL,),
    )
    trail = AuditTrail(
        env,
        f"audit/{EVIL}.jsonl",
        exists=True,
        entries=(
            {
                "seq": EVIL,
                "time": EVIL,
                "actor": EVIL,
                "via": EVIL,
                "result": EVIL,
                "pull_request": EVIL,
                "approved_by": [EVIL],
                "policy_overrides": [EVIL],
                "plan_digest": EVIL,
                "commit": EVIL,
                "calls": [{"key": EVIL, "action": EVIL, "status": EVIL}, EVIL],
            },
        ),
        total=1,
        problems=(EVIL,),
    )
    return Report(
        repository=EVIL,
        generated_at=EVIL,
        commit=_commit(5),
        status=Status((env,), (row, plain)),
        graph=arrange([gateway, node]),
        histories={key: history},
        history_limit=5,
        history_notes=(EVIL,),
        audits=(trail, AuditTrail("development", "audit/development.jsonl", exists=False)),
    )


def _page(report: Report) -> str:
    return "".join(render_report_html(report))


def test_no_value_can_add_an_element_or_an_attribute() -> None:
    page = _page(_report())
    parsed = Elements()
    parsed.feed(page)
    tags = {tag for tag, _ in parsed.tags}
    assert "img" not in tags
    assert sum(1 for tag, _ in parsed.tags if tag == "script") == 1
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "window.__pwned" not in "".join(parsed.raw["script"])
    # The hostile text is shown as text, everywhere it was given.
    text = "".join(parsed.text)
    assert text.count(EVIL) >= 15
    assert "<script>window.__pwned=1</script>" not in page


def test_an_environment_name_cannot_leave_the_style_sheet() -> None:
    page = _page(_report(env='x"; } body { display: none } </style><script>alert(1)</script>'))
    parsed = Elements()
    parsed.feed(page)
    style = "".join(parsed.raw["style"])
    assert "</style" not in style.lower()
    assert "display: none } " not in style
    assert sum(1 for tag, _ in parsed.tags if tag == "script") == 1
    assert sum(1 for tag, _ in parsed.tags if tag == "style") == 1


def test_the_policy_allows_only_the_pages_own_style_and_script() -> None:
    page = _page(_report())
    parsed = Elements()
    parsed.feed(page)
    (policy,) = [
        attrs["content"]
        for tag, attrs in parsed.tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy is not None

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(''.join(parsed.raw['script']))}'" in policy
    assert f"style-src 'sha256-{digest(''.join(parsed.raw['style']))}'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    # Nothing is loaded: no src or href but the page's own anchors and the empty icon.
    for tag, attrs in parsed.tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#") or href == "data:,", href


def test_the_unverified_records_and_a_missing_trail_are_said() -> None:
    page = _page(_report(name="Madison East"))
    assert re.search(r"<b>Madison East</b> <code>[^<]+</code>: unverified in production", page)
    assert "There is no audit trail for development yet: <code>audit/development.jsonl</code>" in (
        page
    )
    assert "The last 1 of 1 entries of <code>audit/" in page


def test_the_tree_is_balanced_however_deep_the_hierarchy() -> None:
    depth = 3000  # far past Python's recursion limit
    nodes = [Node("organization:g", "organization", "g", "Redox gateway", root=Root.GATEWAY)]
    parent = "organization:g"
    for n in range(depth):
        key = f"organization:{n}"
        nodes.append(Node(key, "organization", str(n), f"Org {n}", parents=(parent,)))
        parent = key
    nodes.append(
        Node("organization:side", "organization", "s", "Side", parents=("organization:g",))
    )
    graph: Graph = arrange(nodes)
    report = _report()
    page = _page(replace(report, graph=graph, status=Status(("production",), ())))
    start = page.index('<ul class="tree">')
    tree = page[start : page.index("</section>", start)]
    assert tree.count("<ul") == tree.count("</ul>") == depth + 1
    assert tree.count("<li>") == tree.count("</li>") == depth + 2
    assert tree.index("Org 2999") < tree.index("Side")


def test_a_record_pending_somewhere_carries_its_states_in_the_tree() -> None:
    row = Row("organization:1", "organization", "1", "Clinic", "orgs/c.yaml", {})
    row.status.update({"development": "update pending", "production": IN_SYNC})
    gateway = Node("organization:g", "organization", "g", "Redox gateway", root=Root.GATEWAY)
    node = Node("organization:1", "organization", "1", "Clinic", parents=("organization:g",))
    report = replace(
        _report(),
        graph=arrange([gateway, replace(node, action=Action.UPDATE)]),
        status=Status(("development", "production"), (row,)),
    )
    page = _page(report)
    assert '<span class="wait">development: update pending</span>' in page
    assert "production: in sync" not in page
