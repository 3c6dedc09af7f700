"""The record kinds the reconciler manages, in the order their folders are read.

A kind is a plug-in: `register` adds one (a test's toy kind, say) and every stage of the
pipeline (settings, loader, plan, apply, drift, import) drives it through the Kind interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from reconciler.errors import ReconcilerError
from reconciler.kinds.organization import OrganizationKind
from reconciler.kinds.provider import ProviderKind
from reconciler.model import Key, Kind, make_key

KINDS: dict[str, Kind] = {kind.name: kind for kind in (OrganizationKind(), ProviderKind())}


def kind_of(name: str) -> Kind:
    """The Kind called `name`; a ReconcilerError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ReconcilerError(f"unknown record kind {name!r} (known: {known})") from None


def by_data_model(data_model: str) -> Kind | None:
    """The Kind whose requests carry this Meta.DataModel."""
    return next((k for k in KINDS.values() if k.data_model == data_model), None)


@contextmanager
def registered(kind: Kind) -> Iterator[Kind]:
    """Manage records of `kind` too, while the block runs."""
    if kind.name in KINDS:
        raise ValueError(f"a kind named {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    try:
        yield kind
    finally:
        del KINDS[kind.name]


def oid_keys(oids: Iterable[str]) -> list[Key]:
    """Ledger keys of the organizations with these OIDs (`import --oid`)."""
    return [make_key(OrganizationKind.name, oid) for oid in oids]
