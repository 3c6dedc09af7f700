"""What compiling a policy gives, as kept between runs: the interface between the compiler
(policy.cel) and the store that keeps its results (reconciler.records.policy_cache). Light on
purpose: a plan without policies imports this, not the compiler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class KeptForm:
    """What compiling an expression gave: its form (policy.lowering; None: celpy evaluates
    it) and the input paths it reads."""

    form: list[Any] | None
    paths: tuple[tuple[str, ...], ...] | None


class FormStore(Protocol):
    """Compiled expressions kept between runs (reconciler.records.policy_cache): an entry it
    gives is checked by building it, never trusted blindly."""

    def get(self, text: str) -> KeptForm | None: ...

    def put(self, text: str, entry: KeptForm) -> None: ...
