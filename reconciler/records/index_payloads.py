"""The payloads the stat index holds, read when a plan asks for them (a no-op plan never
does): each checked against the digest its record carries, or read from its file again."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.errors import ReconcilerError
from reconciler.formats.jsontext import Canonical, canonical_json
from reconciler.model import Loaded

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

AHEAD = 256  # payloads read at a time, at most
# (kind, shown path) -> the hash of the file's bytes and its record, read again
Reread = Callable[[str, str], tuple[str | None, Loaded | None]]


def payload_digest(envelope: dict[str, Any], payload: str) -> str:
    """The wire digest of an envelope and a payload's canonical JSON (model.Desired.of)."""
    whole = "[" + canonical_json(envelope) + "," + payload + "]"
    return hashlib.sha256(whole.encode()).hexdigest()


@dataclass
class Payloads:
    """Reads the payloads the index holds as they are asked for. A plan asks for them in the
    order the records were found (creates and updates, one after the other): a request for the
    record after the last one asked for reads the next ones with it, in batches that double up
    to AHEAD; a request elsewhere reads that one alone."""

    connect: Callable[[], sqlite3.Connection]  # to the index
    salt: str  # of the records whose payloads are read
    reread: Reread
    order: list[Payload] = field(default_factory=list)
    ahead: dict[int, str] = field(default_factory=dict)  # position -> payload read in advance
    last: int = -2
    batch: int = 1
    db: sqlite3.Connection | None = None
    # id of an envelope (each held by the payloads that share it, so never reused) -> "[<JSON>,"
    envelopes: dict[int, str] = field(default_factory=dict)

    def add(
        self, kind: str, raw: str, shown: str, envelope: dict[str, Any], digest: str
    ) -> Payload:
        payload = Payload(self, len(self.order), kind, raw, shown, envelope, digest)
        self.order.append(payload)
        return payload

    def read(self, payload: Payload) -> str:
        found = self.ahead.pop(payload.position, None)
        if found is None:
            found = self._stored(payload.position)
        self.last = payload.position
        if found is not None and self._digest(payload.envelope, found) == payload.wire_digest:
            return Canonical(found)  # the text the digest was made of, so canonical
        # Gone from the index (another run cleaned it up) or damaged: the file holds it.
        raw, loaded = self.reread(payload.kind, payload.shown)
        desired = loaded.desired if loaded is not None else None
        if (
            raw == payload.raw
            and desired is not None
            and desired.wire_digest == payload.wire_digest
        ):
            return desired.packed_payload
        raise ReconcilerError(
            f"{payload.shown} changed while the command ran: run it again to plan with what the "
            "file holds now"
        )

    def _digest(self, envelope: dict[str, Any], payload: str) -> str:
        """payload_digest, the envelope's JSON made once for the many records that share it."""
        opening = self.envelopes.get(id(envelope))
        if opening is None:
            opening = self.envelopes[id(envelope)] = "[" + canonical_json(envelope) + ","
        return hashlib.sha256((opening + payload + "]").encode()).hexdigest()

    def _stored(self, position: int) -> str | None:
        """The payload at `position`, and those after it when the requests go in order."""
        import sqlite3

        self.batch = min(self.batch * 2, AHEAD) if position == self.last + 1 else 1
        wanted = self.order[position : position + self.batch]
        by_kind: dict[str, list[str]] = {}
        for item in wanted:
            by_kind.setdefault(item.kind, []).append(item.raw)
        texts: dict[tuple[str, str], str] = {}
        try:
            if self.db is None:
                self.db = self.connect()
            for kind, raws in by_kind.items():  # (salt, kind, raw) is the table's key
                marks = ",".join("?" * len(raws))
                for raw, text in self.db.execute(
                    "SELECT raw, payload FROM payloads WHERE salt = ? AND kind = ? AND raw IN "
                    f"({marks})",
                    (self.salt, kind, *raws),
                ):
                    if isinstance(text, str):
                        texts[(kind, raw)] = text
        except sqlite3.Error as exc:
            log.debug("stat index: a payload not read: %s", exc)
            return None
        for item in wanted[1:]:
            text = texts.get((item.kind, item.raw))
            if text is not None:
                self.ahead[item.position] = text
        first = wanted[0]
        return texts.get((first.kind, first.raw))


@dataclass(frozen=True, slots=True)
class Payload:
    """A record's payload, read from the index when it is asked for (Desired.packed)."""

    payloads: Payloads
    position: int  # in the order the records were found
    kind: str
    raw: str
    shown: str
    envelope: dict[str, Any]
    wire_digest: str

    def __call__(self) -> str:
        return self.payloads.read(self)
