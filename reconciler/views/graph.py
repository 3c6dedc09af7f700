"""The record hierarchy as data: one node per record, its parents, and what the plan does to it.
Renderers (render/graph.py) draw it as a text tree, mermaid or Graphviz. Pure: no I/O.

A record belongs to the hierarchy when its parents are records of its own kind (an
organization's `part_of`); a record whose parents are of another kind hangs under them as an
attached record (a provider under the organizations it has a role at), shown on request.
Parents that no record stands for become roots: the Redox gateway, an external parent, or an
OID that is not in the files.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.kinds import kind_of
from reconciler.model import Action, Desired, Key, split_key
from reconciler.plan import Plan

# More nodes than this make a diagram nobody reads in a pull request (and slow to draw).
PLAN_GRAPH_NODES = 50


class Root(enum.Enum):
    """What a parent that no record stands for is."""

    GATEWAY = "Redox gateway"
    EXTERNAL = "external parent"
    UNMANAGED = "not in the files"


@dataclass(frozen=True, slots=True)
class Node:
    """One record (or a root, or a stand-in for unchanged records) of the graph."""

    key: Key
    kind: str
    identity: str
    name: str
    parents: tuple[Key, ...] = ()
    action: Action | None = None
    active: bool = True
    attached: bool = False  # hangs under records of another kind (a provider's organizations)
    source: str | None = None
    root: Root | None = None
    hidden: int = 0  # > 0: stands for this many unchanged records under its parent


@dataclass(frozen=True)
class Graph:
    """Nodes in drawing order (every parent before its children), and the tree they make."""

    nodes: dict[Key, Node]
    roots: tuple[Key, ...]
    children: dict[Key, tuple[Key, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def changed(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.action is not None]


def build_graph(
    desired: Mapping[Key, Desired],
    plan: Plan,
    *,
    gateways: Collection[str] = (),
    external: Collection[str] = (),
    attached: bool = False,
) -> Graph:
    """The hierarchy of the files, each record marked with the plan's action on it.

    The ledger needs no reading of its own: every ledgered record without a file that the plan
    changes is in the plan (with its payload), and one it leaves alone is an inactive record
    whose file is gone, which the files' hierarchy does not hold. `attached` adds the records
    that hang under another kind's records."""
    actions = {change.key: change.action for change in plan.changes}
    records: list[Node] = []
    for key, want in desired.items():
        records.append(_record(key, want.kind, want.identity, want.payload, want.active, want.file))
    for change in plan.changes:
        if change.key not in desired:  # deactivated because its file is gone (missing: deactivate)
            after = change.after
            active = kind_of(change.kind).is_active(after)
            records.append(_record(change.key, change.kind, change.identity, after, active, None))
    nodes = {
        n.key: replace(n, action=actions.get(n.key)) for n in records if attached or not n.attached
    }
    for node in list(nodes.values()):
        for parent in node.parents:
            if parent not in nodes:
                nodes[parent] = _root(parent, gateways, external)
    return arrange(nodes.values())


def _record(
    key: Key,
    kind_name: str,
    identity: str,
    payload: dict[str, Any],
    active: bool,
    source: str | None,
) -> Node:
    kind = kind_of(kind_name)
    parents = kind.parent_keys(payload)
    own = bool(parents) and all(split_key(p)[0] == kind_name for p in parents)
    return Node(
        key=key,
        kind=kind_name,
        identity=identity,
        name=kind.display_name(payload, identity),
        parents=parents,
        active=active,
        attached=not own,
        source=source,
    )


def _root(key: Key, gateways: Collection[str], external: Collection[str]) -> Node:
    kind, identity = split_key(key)
    if identity in gateways:
        root = Root.GATEWAY
    elif identity in external:
        root = Root.EXTERNAL
    else:
        root = Root.UNMANAGED
    return Node(key=key, kind=kind, identity=identity, name=root.value, root=root)


def arrange(nodes: Iterable[Node]) -> Graph:
    """A Graph of these nodes: children under each parent sorted by name then identity, nodes
    in depth-first order from the roots. A node whose parents are all missing is a root; one
    that no root reaches (a cycle) is placed as a root too, so every node is drawn."""
    by_key = {n.key: n for n in nodes}
    children: dict[Key, list[Key]] = {}
    roots: list[Key] = []
    for node in by_key.values():
        present = [p for p in node.parents if p in by_key]
        for parent in present:
            children.setdefault(parent, []).append(node.key)
        if not present:
            roots.append(node.key)

    def order(key: Key) -> tuple[int, str, str]:
        n = by_key[key]
        # Roots (the gateway first), then records, then a stand-in for the unchanged ones.
        rank = list(Root).index(n.root) if n.root is not None else len(Root) + bool(n.hidden)
        return (rank, n.name.casefold(), n.identity)

    for keys in children.values():
        keys.sort(key=order)
    roots.sort(key=order)
    ordered: dict[Key, Node] = {}
    stack = list(reversed(roots))
    pending = list(by_key)
    while True:
        while stack:
            key = stack.pop()
            if key in ordered:
                continue
            ordered[key] = by_key[key]
            stack.extend(reversed(children.get(key, [])))
        unreached = next((k for k in pending if k not in ordered), None)
        if unreached is None:
            break
        roots.append(unreached)
        stack.append(unreached)
    return Graph(ordered, tuple(roots), {k: tuple(v) for k, v in children.items()})


def ancestors_of(graph: Graph, keys: Iterable[Key]) -> set[Key]:
    """The keys and every ancestor of them in the graph."""
    seen: set[Key] = set()
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key in seen or key not in graph.nodes:
            continue
        seen.add(key)
        stack.extend(graph.nodes[key].parents)
    return seen


def changed_view(graph: Graph) -> Graph:
    """The changed records of the hierarchy and their ancestors."""
    changed = [n.key for n in graph.changed if not n.attached]
    keep = ancestors_of(graph, changed)
    return arrange(n for n in graph.nodes.values() if n.key in keep)


def compact_view(graph: Graph) -> Graph:
    """The changed records of the hierarchy and their parents only; the unchanged children of
    each parent shown are one stand-in node `+N unchanged`."""
    changed = {n.key for n in graph.changed if not n.attached}
    keep = changed | {p for k in changed for p in graph.nodes[k].parents if p in graph.nodes}
    nodes = [_without_absent_parents(graph.nodes[k], keep) for k in keep]
    for key in sorted(keep - changed):
        hidden = [c for c in graph.children.get(key, ()) if c not in keep]
        if hidden:
            kind, identity = split_key(key)
            nodes.append(
                Node(
                    key=f"{key}+unchanged",
                    kind=kind,
                    identity=identity,
                    name=f"+{len(hidden)} unchanged",
                    parents=(key,),
                    hidden=len(hidden),
                )
            )
    return arrange(nodes)


def _without_absent_parents(node: Node, keep: set[Key]) -> Node:
    parents = tuple(p for p in node.parents if p in keep)
    return node if parents == node.parents else replace(node, parents=parents)


def plan_view(graph: Graph, *, most: int = PLAN_GRAPH_NODES) -> Graph | None:
    """What a pull request's plan draws: the changed records and their ancestors; above `most`
    nodes the compact view; None when that is still too large, or nothing in the hierarchy
    changes."""
    view = changed_view(graph)
    if not view.changed:
        return None
    if len(view) > most:
        view = compact_view(graph)
    return view if len(view) <= most else None
