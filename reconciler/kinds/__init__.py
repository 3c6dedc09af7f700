"""The record kinds the reconciler manages, in the order their folders are read."""

from __future__ import annotations

from reconciler.kinds.organization import OrganizationKind
from reconciler.kinds.provider import ProviderKind
from reconciler.model import Kind

KINDS: dict[str, Kind] = {kind.name: kind for kind in (OrganizationKind(), ProviderKind())}


def kind_of(name: str) -> Kind:
    """The Kind called `name`."""
    return KINDS[name]
