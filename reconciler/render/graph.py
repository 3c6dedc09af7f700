"""The record hierarchy (reconciler.views.graph) as an indented text tree, a mermaid flowchart and a
Graphviz digraph. Pure.

Mermaid labels follow the escaping rules found with the real renderer (tests/mermaid.py): the
characters that mean something to mermaid or to HTML are written as decimal entity codes, a
`direction` followed by a space and a direction word keeps its space as `#32;`, and node IDs are
generated (`n1`, `g1`, `m1`), never taken from the records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from reconciler.model import Action
from reconciler.views.graph import Graph, Node

MARK = {Action.CREATE: "+", Action.UPDATE: "~", Action.DEACTIVATE: "-", Action.REACTIVATE: "^"}
LEGEND = "+ create  ~ update  - deactivate  ^ reactivate  (inactive): inactive, unchanged"
# One style per action, and for inactive records and the stand-in of unchanged ones. Colours
# as GitHub's alerts use them, readable in its light and dark themes alike.
STYLE = {
    "create": ("#d4edda", "#28a745", "#155724"),
    "update": ("#fff3cd", "#ffc107", "#856404"),
    "deactivate": ("#f8d7da", "#dc3545", "#721c24"),
    "reactivate": ("#cce5ff", "#007bff", "#004085"),
    "inactive": ("#eeeeee", "#999999", "#666666"),
    "unchanged": ("#ffffff", "#999999", "#666666"),
}
_DASHED = {"inactive", "unchanged"}


def style_of(node: Node) -> str | None:
    """The style name of a node: its action, `inactive`, or None for an unchanged record."""
    if node.action is not None:
        return node.action.value
    if node.hidden:
        return "unchanged"
    if not node.active:
        return "inactive"
    return None


def _dashed(node: Node) -> bool:
    """Whether the edge to a node is dashed: it is (or becomes) inactive, or a stand-in."""
    return not node.active or bool(node.hidden)


def _label(node: Node, *, marked: bool = True) -> tuple[str, str]:
    """(first line, second line) of a node: its name (after its action's mark when `marked`)
    with notes, and its identity."""
    if node.hidden or node.root is not None:
        return node.name, "" if node.hidden else node.identity
    name = node.name.strip() or node.identity
    mark = MARK[node.action] if node.action is not None and marked else ""
    notes = []
    if node.attached:
        notes.append(f"[{node.kind}]")
    if not node.active and node.action != Action.DEACTIVATE:
        notes.append("(inactive)")
    if node.source is None:
        notes.append("(no file)")
    first = " ".join([part for part in (mark, name) if part] + notes)
    return first, node.identity


# --- text -------------------------------------------------------------------------------------

_BOX = ("├── ", "└── ", "│   ", "    ")
_ASCII = ("|-- ", "`-- ", "|   ", "    ")


def render_graph_text(
    graph: Graph, *, environment: str, unicode: bool = False, color: bool = False
) -> str:
    """An indented tree, one record per line: box-drawing characters when `unicode`, else
    plain ASCII; inactive records dimmed when `color`."""
    branch, last, pipe, blank = _BOX if unicode else _ASCII

    def line(node: Node) -> str:
        if node.root is not None:
            return f"{node.name}  {node.identity}"
        mark = MARK[node.action] if node.action is not None else " "
        first, identity = _label(node, marked=False)
        text = f"{mark} {first}  {identity}"
        if color and node.action is None and not node.active:
            return f"\x1b[2m{text}\x1b[0m"
        return text

    def walk(key: str, prefix: str, path: frozenset[str]) -> Iterator[str]:
        kids = [k for k in graph.children.get(key, ()) if k not in path]
        for index, child in enumerate(kids):
            final = index == len(kids) - 1
            yield prefix + (last if final else branch) + line(graph.nodes[child])
            yield from walk(child, prefix + (blank if final else pipe), path | {child})

    lines = [f"Records of the files, marked with the plan for {environment}:", ""]
    for root in graph.roots:
        lines.append(line(graph.nodes[root]))
        lines.extend(walk(root, "", frozenset({root})))
    if not graph.nodes:
        lines.append("(no records)")
    lines += ["", LEGEND]
    return "\n".join(lines) + "\n"


# --- mermaid ----------------------------------------------------------------------------------

_MERMAID_CODES = {
    '"': "#34;",
    "#": "#35;",
    "$": "#36;",
    "&": "#38;",
    ":": "#58;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DIRECTION = re.compile(r"direction (?=TB|BT|RL|LR|TD)")
# mermaid's own placeholders for entities: drawn wrongly whatever the escaping, so split them.
_PLACEHOLDERS = {"¶ß": "¶\u200bß", "ﬂ°": "ﬂ\u200b°"}


def mermaid_text(text: str) -> str:
    """Text as a mermaid label shows it literally: one line, every special character coded."""
    flat = " ".join(_NOT_XML.sub("\ufffd", text).split())
    for pair, split in _PLACEHOLDERS.items():
        flat = flat.replace(pair, split)
    coded = "".join(_MERMAID_CODES.get(char, char) for char in flat)
    return _DIRECTION.sub("direction#32;", coded) or "#160;"


def _ids(graph: Graph) -> dict[str, str]:
    """Safe node IDs: g for roots, m for stand-ins, n for records, numbered in drawing order."""
    counts = {"g": 0, "m": 0, "n": 0}
    ids: dict[str, str] = {}
    for node in graph.nodes.values():
        prefix = "g" if node.root is not None else "m" if node.hidden else "n"
        counts[prefix] += 1
        ids[node.key] = f"{prefix}{counts[prefix]}"
    return ids


def render_mermaid(graph: Graph) -> str:
    """A `flowchart TD`: one node per record labelled with its marked name and identity, a
    classDef per action; inactive records and their edges dashed."""
    ids = _ids(graph)
    lines = ["flowchart TD"]
    for node in graph.nodes.values():
        first, second = _label(node)
        label = mermaid_text(f"{first} ({second})" if second else first)
        shape = '(["{}"])' if node.root is not None else '["{}"]'
        lines.append(f"  {ids[node.key]}{shape.format(label)}")
    for node in graph.nodes.values():
        arrow = "-.->" if _dashed(node) else "-->"
        lines.extend(
            f"  {ids[parent]} {arrow} {ids[node.key]}"
            for parent in node.parents
            if parent in graph.nodes
        )
    for name, (fill, stroke, text) in STYLE.items():
        dash = ",stroke-dasharray: 5 5" if name in _DASHED else ""
        lines.append(f"  classDef {name} fill:{fill},stroke:{stroke},color:{text}{dash}")
    classes: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        style = style_of(node)
        if style is not None:
            classes.setdefault(style, []).append(ids[node.key])
    lines.extend(f"  class {','.join(members)} {name}" for name, members in classes.items())
    return "\n".join(lines) + "\n"


# --- dot --------------------------------------------------------------------------------------


def dot_text(text: str) -> str:
    """Text inside a Graphviz double-quoted string, shown literally: backslashes and quotes
    escaped, `&` coded (Graphviz decodes entities in labels), on one line."""
    flat = " ".join(text.split())
    return flat.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def render_dot(graph: Graph) -> str:
    """A Graphviz `digraph`: boxes filled by action, inactive records dashed."""
    ids = _ids(graph)
    lines = [
        "digraph hierarchy {",
        '  graph [rankdir=TB, charset="UTF-8"];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    for node in graph.nodes.values():
        first, second = _label(node)
        label = dot_text(first) + (f"\\n{dot_text(second)}" if second else "")
        attributes = [f'label="{label}"']
        style = style_of(node)
        if node.root is not None:
            attributes.append("shape=ellipse")
        if style in STYLE:
            fill, stroke, text = STYLE[style]
            attributes += [f'fillcolor="{fill}"', f'color="{stroke}"', f'fontcolor="{text}"']
        if style in _DASHED:
            attributes.append('style="rounded,filled,dashed"')
        lines.append(f"  {ids[node.key]} [{', '.join(attributes)}];")
    for node in graph.nodes.values():
        edge = " [style=dashed]" if _dashed(node) else ""
        lines.extend(
            f"  {ids[parent]} -> {ids[node.key]}{edge};"
            for parent in node.parents
            if parent in graph.nodes
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
