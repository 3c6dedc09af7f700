"""`graph`: the hierarchy of the files as a text tree, mermaid and dot, each record marked with
what the plan does to it; and the mermaid flowchart in the markdown plan."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import EXAMPLE_PROVIDERS, GATEWAY, Repo, organization
from mermaid import (
    TRICKY,
    check_flowchart,
    node_classes,
    render,
    renderer_unavailable,
    svg_text,
)

from reconciler import reconcile
from reconciler.model import Action
from reconciler.render import render_dot, render_graph_text, render_markdown, render_mermaid
from reconciler.render.graph import dot_text, mermaid_text
from reconciler.views.graph import PLAN_GRAPH_NODES, Node, arrange, compact_view, plan_view

UNAVAILABLE = renderer_unavailable()
needs_renderer = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
NORTHWIND = "2.16.840.1.113883.3.6147.458.24601.1"
TREE_LINE = re.compile(r"^(?P<prefix>(?:[|│ ] {3})*)(?:[|├`└]-- |[├└]── )(?P<rest>.*)$")


def part_of(repo: Repo) -> dict[str, str]:
    """Each organization's OID -> its part_of, read from the files."""
    found = {}
    for path in sorted((repo.root / "orgs").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[data["oid"]] = data["part_of"]
    return found


def tree(text: str) -> list[tuple[int, str, str]]:
    """(depth, identity, the line's text) of every line of a text tree; roots at depth 0."""
    rows = []
    for line in text.splitlines():
        match = TREE_LINE.match(line)
        if match:
            depth = len(match["prefix"]) // 4 + 1
            rows.append((depth, match["rest"].split()[-1], match["rest"]))
        elif line and line[0] not in " +~-^(" and "  " in line and not line.startswith("Records"):
            rows.append((0, line.split()[-1], line))
    return rows


def parents_in(rows: list[tuple[int, str, str]]) -> dict[str, str]:
    """Each line's identity -> the identity of the line it is indented under."""
    stack: list[str] = []
    found = {}
    for depth, identity, _ in rows:
        del stack[depth:]
        if depth:
            found[identity] = stack[depth - 1]
        stack.append(identity)
    return found


@pytest.mark.parametrize("unicode", [False, True])
def test_the_text_tree_puts_every_record_once_under_its_parent(
    repo: Callable[..., Repo], unicode: bool
) -> None:
    example = repo(example=True)
    graph = reconcile.graph(example.workspace("development"))
    text = render_graph_text(graph, environment="development", unicode=unicode)
    rows = tree(text)
    identities = [identity for _, identity, _ in rows]
    files = part_of(example)
    assert sorted(identities) == sorted([*files, GATEWAY])  # each record once, and the root
    assert parents_in(rows) == files
    assert ("└── " in text) == unicode
    assert ("`-- " in text) == (not unicode)
    assert text.isascii() == (not unicode)


def test_the_cli_draws_plain_ascii_off_a_terminal(repo: Callable[..., Repo], run_cli: Any) -> None:
    example = repo(example=True)
    done = run_cli("graph", "--env", "development", repo=example)
    assert done.exit_code == 0, done.output
    assert done.output.isascii()
    assert f"`-- + Northwind Health  {NORTHWIND}" in done.output
    assert "(inactive)" in done.output  # Dubuque is created inactive


def changed_example(repo: Callable[..., Repo]) -> Repo:
    """The example settled in the sandbox's ledger, then: one clinic added, one updated, one
    deactivated."""
    example = repo(example=True)
    example.settle()
    example.org("verona", organization(9, parent=NORTHWIND, name="Northwind Verona Clinic"))
    madison = example.root / "orgs/madison-east-clinic.yaml"
    madison.write_text(madison.read_text().replace("Madison\n", "Verona\n"), encoding="utf-8")
    rockford = example.root / "orgs/rockford-family-medicine.yaml"
    rockford.write_text(rockford.read_text().replace("active: true", "active: false"))
    return example


def mermaid_classes(text: str) -> dict[str, set[str]]:
    """class name -> identities (the text in a node label's last parentheses) of its nodes."""
    labels = {
        m["id"]: m["label"]
        for m in re.finditer(r'^\s+(?P<id>\w+)\(?\["(?P<label>.*)"\]', text, re.M)
    }
    identity = {node: re.findall(r"\(([^()]*)\)$", label)[0] for node, label in labels.items()}
    classes: dict[str, set[str]] = {}
    for m in re.finditer(r"^\s+class (?P<ids>\S+) (?P<name>\w+)$", text, re.M):
        classes.setdefault(m["name"], set()).update(identity[n] for n in m["ids"].split(","))
    return classes


def test_mermaid_marks_exactly_what_the_plan_changes(
    repo: Callable[..., Repo], run_cli: Any
) -> None:
    example = changed_example(repo)
    done = run_cli("graph", "--format", "mermaid", repo=example)
    assert done.exit_code == 0, done.output
    assert check_flowchart(done.output) == []
    plan = example.plan()
    wanted: dict[str, set[str]] = {}
    for change in plan.changes:
        wanted.setdefault(change.action.value, set()).add(change.identity)
    classes = mermaid_classes(done.output)
    assert {k: v for k, v in classes.items() if k in wanted} == wanted
    assert wanted == {
        "create": {f"{NORTHWIND}.9"},
        "update": {f"{NORTHWIND}.1"},
        "deactivate": {f"{NORTHWIND}.2"},
    }
    # Dubuque was created inactive and stays so: marked inactive, not changed.
    assert classes["inactive"] == {f"{NORTHWIND}.4"}


def test_dot_is_a_digraph_with_every_record(repo: Callable[..., Repo], run_cli: Any) -> None:
    example = repo(example=True)
    done = run_cli("graph", "--format", "dot", "--env", "development", repo=example)
    assert done.exit_code == 0, done.output
    assert done.output.startswith("digraph hierarchy {\n")
    assert done.output.endswith("}\n")
    for oid in part_of(example):
        assert f'\\n{oid}"' in done.output
    assert done.output.count(" -> ") == len(part_of(example))


def test_providers_hang_under_the_organization_they_have_a_role_at(
    repo: Callable[..., Repo],
) -> None:
    example = repo(example=True)
    shutil.copytree(EXAMPLE_PROVIDERS, example.root / "providers")
    ws = example.workspace("development")
    without = reconcile.graph(ws)
    assert not any(n.attached for n in without.nodes.values())
    graph = reconcile.graph(ws, attached=True)
    avery = graph.nodes["provider:1647839210"]
    assert avery.parents == (f"organization:{NORTHWIND}.1",)
    text = render_graph_text(graph, environment="development")
    parents = parents_in(tree(text))
    assert parents["1647839210"] == f"{NORTHWIND}.1"
    assert "+ Avery Lindqvist [provider]  1647839210" in text


# --- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "label"), TRICKY)
def test_mermaid_labels_follow_the_rules_found_with_the_real_renderer(
    name: str, label: str
) -> None:
    assert mermaid_text(name) == label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Two\nlines\tand  tabs", "Two lines and tabs"),
        ("Redirection   TB ward", "Redirection#32;TB ward"),
        ("Pilcrow ¶ß and ﬂ°", "Pilcrow ¶\u200bß and ﬂ\u200b°"),
        ("bad \ufffe char", "bad \ufffd char"),
        ("   ", "#160;"),
    ],
)
def test_mermaid_labels_are_one_renderable_line(name: str, label: str) -> None:
    assert mermaid_text(name) == label
    assert check_flowchart(f'flowchart TD\n  a["{mermaid_text(name)}"]') == []


def hostile_graph() -> Any:
    nodes = [Node(key="organization:1.2", kind="organization", identity="1.2", name="gateway")]
    for i, (name, _) in enumerate(TRICKY, start=1):
        action = list(Action)[i % 4] if i % 5 else None
        nodes.append(
            Node(
                key=f"organization:1.2.{i}",
                kind="organization",
                identity=f"1.2.{i}",
                name=name,
                parents=("organization:1.2",),
                action=action,
                active=i % 7 != 0,
                source=f"orgs/{i}.yaml",
            )
        )
    return arrange(nodes)


def test_a_graph_of_hostile_names_passes_the_flowchart_check() -> None:
    text = render_mermaid(hostile_graph())
    assert check_flowchart(text) == []
    assert "end[" not in text
    assert "\n  end" not in text


DOT_STRING = re.compile(r'label="((?:[^"\\]|\\.)*)"')


@pytest.mark.parametrize(
    "name",
    ['The "Best" Clinic', "Back\\slash \\n not a newline", "AT&amp;T & Sons <Peds>", "北京 São"],
)
def test_dot_labels_show_the_name_literally(name: str) -> None:
    quoted = dot_text(name)
    # Graphviz reads \" and \\ as the characters, and decodes entities: undo exactly that.
    shown = re.sub(r"\\(.)", r"\1", quoted).replace("&amp;", "&")
    assert shown == name
    assert DOT_STRING.fullmatch(f'label="{quoted}"')


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_reads_the_hostile_graph(tmp_path: Path) -> None:
    source = tmp_path / "graph.dot"
    source.write_text(render_dot(hostile_graph()), encoding="utf-8")
    done = subprocess.run(
        ["dot", "-Tsvg", str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    assert "The &quot;Best&quot; Clinic" in done.stdout or 'The "Best" Clinic' in done.stdout


# --- the plan's view: changed records and their ancestors -------------------------------------


def wide_graph(changed: int, unchanged: int, regions: int = 3, depth: int = 0) -> Any:
    """A gateway, a chain of `depth` organizations, `regions` regions under it, and under each
    region `changed` created and `unchanged` unchanged clinics."""
    top = "organization:1.2"
    nodes = [Node(key=top, kind="organization", identity="1.2", name="gateway")]
    for level in range(depth):
        key = f"organization:1.2.99.{level}"
        nodes.append(
            Node(
                key=key,
                kind="organization",
                identity=key[13:],
                name=f"Level {level}",
                parents=(top,),
                source="x",
            )
        )
        top = key
    for r in range(regions):
        region = f"organization:1.2.{r}"
        nodes.append(
            Node(
                key=region,
                kind="organization",
                identity=f"1.2.{r}",
                name=f"Region {r}",
                parents=(top,),
                source="x",
            )
        )
        for c in range(changed + unchanged):
            nodes.append(
                Node(
                    key=f"{region}.{c}",
                    kind="organization",
                    identity=f"1.2.{r}.{c}",
                    name=f"Clinic {r}.{c}",
                    parents=(region,),
                    source="x",
                    action=Action.CREATE if c < changed else None,
                )
            )
    return arrange(nodes)


def test_the_plan_view_is_the_changed_records_and_their_ancestors() -> None:
    view = plan_view(wide_graph(changed=2, unchanged=30))
    assert view is not None
    assert len(view) == 1 + 3 + 6
    assert not any(n.hidden for n in view.nodes.values())


def test_above_50_nodes_only_the_changed_and_their_parents_with_stand_ins() -> None:
    graph = wide_graph(changed=22, unchanged=20, regions=2, depth=5)
    assert len(compact_view(graph)) < 50 < len(plan_view(graph, most=10_000) or [])
    view = plan_view(graph)
    assert view is not None
    stand_ins = [n for n in view.nodes.values() if n.hidden]
    assert [(n.name, n.parents) for n in stand_ins] == [
        ("+20 unchanged", (f"organization:1.2.{r}",)) for r in range(2)
    ]
    assert len(view) == 44 + 2 + 2  # the changed, their parents, a stand-in under each
    assert check_flowchart(render_mermaid(view)) == []
    assert '["+20 unchanged"]' in render_mermaid(view)


def test_still_too_large_is_no_graph() -> None:
    graph = wide_graph(changed=14, unchanged=20, regions=4)  # 56 changed
    assert len(compact_view(graph)) > 50
    assert plan_view(graph) is None


def test_a_too_large_graph_is_left_out_of_the_markdown_with_a_note(
    repo: Callable[..., Repo],
) -> None:
    many = repo({f"c{n}": organization(n) for n in range(1, 61)})
    plan = many.plan()
    markdown = render_markdown(plan, graph=reconcile.graph(many.workspace()))
    assert "```mermaid" not in markdown
    notes = [line for line in markdown.splitlines() if "hierarchy graph is left out" in line]
    assert len(notes) == 1
    assert f"more than {PLAN_GRAPH_NODES} records" in notes[0]


def test_the_markdown_plan_shows_the_changed_records_and_their_ancestors(
    repo: Callable[..., Repo], run_cli: Any
) -> None:
    example = changed_example(repo)
    done = run_cli("plan", "--format", "markdown", repo=example)
    assert done.exit_code == 0, done.output
    fence = re.search(r"```mermaid\n(.*?)```", done.output, re.S)
    assert fence is not None
    assert check_flowchart(fence[1]) == []
    classes = mermaid_classes(fence[1])
    assert classes["create"] == {f"{NORTHWIND}.9"}
    assert classes["update"] == {f"{NORTHWIND}.1"}
    assert classes["deactivate"] == {f"{NORTHWIND}.2"}
    # The parent (unchanged) and the gateway are drawn; unchanged siblings are not.
    assert f"Northwind Health ({NORTHWIND})" in fence[1]
    assert GATEWAY in fence[1]
    assert "Rochester" not in fence[1]
    assert (
        done.output.index("| action |")
        < done.output.index("```mermaid")
        < done.output.index("<details>")
    )


@pytest.mark.parametrize("limit", [2_000, 5_000, 60_000])
def test_the_markdown_with_its_graph_keeps_within_the_limit(
    repo: Callable[..., Repo], limit: int
) -> None:
    top = organization(7)
    parent = top["oid"]
    records = {"p": top} | {
        f"c{n}": organization(n, parent=parent, aliases=["x" * 3000]) for n in range(1, 40)
    }
    many = repo(records)
    plan = many.plan()
    markdown = render_markdown(plan, limit=limit, graph=reconcile.graph(many.workspace()))
    assert len(markdown) <= limit
    if limit == 60_000:
        assert "```mermaid" in markdown  # the field details went, the picture stayed
        assert "<details>" not in markdown


# --- the 30-record plan in the real renderer --------------------------------------------------


def thirty_record_plan(repo: Callable[..., Repo]) -> Repo:
    """30 records (20 with the hostile names of the mermaid harness), settled, then changed:
    12 created, 8 updated, 4 deactivated, 3 reactivated, their 3 ancestors unchanged."""
    network = organization(1, name="Acme Health Network")
    top = network["oid"]
    north = organization(1, parent=top, name="Northern Region")
    south = organization(2, parent=top, name="Southern Region")
    names = [name for name, _ in TRICKY] + [f"Plain Clinic {n}" for n in range(1, 8)]
    clinics = {}
    for n, name in enumerate(names, start=1):
        region = north if n <= 14 else south
        clinics[n] = organization(n, parent=region["oid"], name=name, active=not 13 <= n <= 15)
    before = {"network": network, "north": north, "south": south}
    before |= {f"clinic{n}": clinics[n] for n in range(1, 16)}
    made = repo(before)
    made.settle()
    for n in range(16, 28):
        made.org(f"clinic{n}", clinics[n])
    for n in range(1, 9):
        made.org(
            f"clinic{n}", {**clinics[n], "address": {**clinics[n]["address"], "city": "Verona"}}
        )
    for n in range(9, 16):
        made.org(f"clinic{n}", {**clinics[n], "active": n < 9 or n > 12})
    return made


def plan_fence(markdown: str) -> str:
    fence = re.search(r"```mermaid\n(.*?)```", markdown, re.S)
    assert fence is not None, markdown
    return fence[1]


def test_the_30_record_plan_is_drawn_whole_and_passes_the_check(repo: Callable[..., Repo]) -> None:
    made = thirty_record_plan(repo)
    plan = made.plan()
    assert {a.value: n for a, n in plan.counts().items()} == {
        "create": 12,
        "update": 8,
        "deactivate": 4,
        "reactivate": 3,
    }
    text = plan_fence(render_markdown(plan, graph=reconcile.graph(made.workspace())))
    assert check_flowchart(text) == []
    assert len(re.findall(r'^  [ngm]\d+\(?\["', text, re.M)) == 30 + 1  # and the gateway


@needs_renderer
def test_the_30_record_plan_renders_in_mermaid_cli(
    repo: Callable[..., Repo],
    artifacts: Path,
) -> None:
    made = thirty_record_plan(repo)
    plan = made.plan()
    text = plan_fence(render_markdown(plan, graph=reconcile.graph(made.workspace())))
    svg = artifacts / "plan-graph-30.svg"
    render(text, svg)
    render(text, artifacts / "plan-graph-30.png")
    lines = svg_text(svg).splitlines()
    for name, _ in TRICKY:
        assert any(name in line for line in lines), name
    classes = node_classes(svg)
    assert classes["node"] == 31
    assert {a.value: classes[a.value] for a in Action} == {
        a.value: n for a, n in plan.counts().items()
    }
