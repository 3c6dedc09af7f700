"""Field diffs: the fields that differ between two payloads, by Redox path, with list items
paired by identity where they have one (SPEC 2, plan semantics). Pure."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import FieldChange


def field_changes(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    identities: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[FieldChange, ...]:
    """The fields that differ between two payloads, by Redox path (Address.City, Contacts[0]).

    List items are paired before they are compared: by identity where the kind gives the list
    one (`Kind.list_identities`: Contacts by Purpose and Name, say), otherwise by equal value,
    and what is left in place of each other by position. So inserting one contact shows one
    added item, not a change in every contact after it; an item whose place alone changed is
    reported as moved. Paths of items that are there afterwards use their index afterwards."""
    found: list[FieldChange] = []
    _diff(dict(before), dict(after), "", "", identities or {}, found)
    return tuple(sorted(found, key=lambda f: f.path))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _same(a: Any, b: Any) -> bool:
    # Type too: True == 1 and 1 == 1.0 in Python, never on the wire.
    return type(a) is type(b) and a == b


def _diff(
    a: Any,
    b: Any,
    path: str,
    name: str,
    identities: Mapping[str, tuple[str, ...]],
    found: list[FieldChange],
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                found.append(FieldChange(_join(path, key), before=a[key], removed=True))
            else:
                _diff(a[key], b[key], _join(path, key), key, identities, found)
        for key in b:
            if key not in a:
                found.append(FieldChange(_join(path, key), after=b[key], added=True))
    elif isinstance(a, list) and isinstance(b, list):
        _diff_list(a, b, path, identities.get(name), identities, found)
    elif not _same(a, b):
        found.append(FieldChange(path, before=a, after=b))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _identities(items: list[Any], keys: tuple[str, ...] | None) -> list[str | None]:
    """Each item's identity (None without one), unique within the list or None."""
    if not keys:
        return [None] * len(items)
    found: list[str | None] = []
    for item in items:
        values = [item.get(k) for k in keys] if isinstance(item, dict) else [None]
        found.append(None if any(v is None for v in values) else _canonical(values))
    counts = Counter(found)
    repeated = {i for i, n in counts.items() if i is not None and n > 1}
    return [None if i in repeated else i for i in found]


def _diff_list(
    a: list[Any],
    b: list[Any],
    path: str,
    keys: tuple[str, ...] | None,
    identities: Mapping[str, tuple[str, ...]],
    found: list[FieldChange],
) -> None:
    ids_a, ids_b = _identities(a, keys), _identities(b, keys)
    where_a = {ident: i for i, ident in enumerate(ids_a) if ident is not None}
    pairs = [(where_a[ident], j) for j, ident in enumerate(ids_b) if ident in where_a]
    paired_a = {i for i, _ in pairs}
    paired_b = {j for _, j in pairs}
    # Items with an identity that the other side lacks were removed or added; the items with
    # none are aligned by value, as a text diff aligns lines.
    rest_a = [i for i, ident in enumerate(ids_a) if ident is None]
    rest_b = [j for j, ident in enumerate(ids_b) if ident is None]
    text_a = {i: _canonical(a[i]) for i in rest_a}
    text_b = {j: _canonical(b[j]) for j in rest_b}
    matcher = difflib.SequenceMatcher(None, list(text_a.values()), list(text_b.values()), False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op in {"equal", "replace"}:
            pairs.extend(zip(rest_a[a1:a2], rest_b[b1:b2], strict=False))
    paired_a.update(i for i, _ in pairs)
    paired_b.update(j for _, j in pairs)
    # An item the alignment left out on both sides, unchanged, moved.
    unpaired_a: dict[str, list[int]] = {}
    for i in rest_a:
        if i not in paired_a:
            unpaired_a.setdefault(text_a[i], []).append(i)
    for j in rest_b:
        if j not in paired_b and unpaired_a.get(text_b[j]):
            i = unpaired_a[text_b[j]].pop(0)
            pairs.append((i, j))
            paired_a.add(i)
            paired_b.add(j)
    for i, item in enumerate(a):
        if i not in paired_a:
            found.append(FieldChange(f"{path}[{i}]", before=item, removed=True))
    for j, item in enumerate(b):
        if j not in paired_b:
            found.append(FieldChange(f"{path}[{j}]", after=item, added=True))
    pairs.sort(key=lambda pair: pair[1])
    in_order = _longest_increasing([i for i, _ in pairs])
    for i, j in pairs:
        if i not in in_order:
            found.append(FieldChange(f"{path}[{j}]", moved_from=f"{path}[{i}]"))
        _diff(a[i], b[j], f"{path}[{j}]", "", identities, found)


def _longest_increasing(seq: list[int]) -> set[int]:
    """The values of a longest increasing subsequence of `seq`: the items that kept their
    order; the others moved."""
    tails: list[int] = []  # index into seq of the smallest tail of each length
    back: list[int] = [-1] * len(seq)
    for k, value in enumerate(seq):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if seq[tails[mid]] < value:
                lo = mid + 1
            else:
                hi = mid
        back[k] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(k)
        else:
            tails[lo] = k
    kept: set[int] = set()
    k = tails[-1] if tails else -1
    while k != -1:
        kept.add(seq[k])
        k = back[k]
    return kept
