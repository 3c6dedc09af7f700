"""The ledger's read cache (`.reconciler/cache/<ledger>.read.json`): what a lean reading of the
ledger file (text.py) gave, kept for the next command while the file's stat is unchanged, as the
stat index keeps record files. A no-op plan of 10,000 records then reads neither the ledger's
megabytes nor validates its records again: it reads this file and the records' places in the
ledger, and opens the ledger only for the records whose payload a plan needs (each checked
against the CRC-32 of its bytes when first read: text.OnDisk).

The cache is used only when the ledger file's stat (size, mtime_ns, ctime_ns, inode, device)
equals the one recorded and was *trusted* when recorded: the file's mtime and ctime were older
than the clock of the run that read it (formats.cache.clock), so any write since shows in the
stat. A ledger written within the clock's granularity of that run ("racy git") is read again.

Never truth: the cache's body is checked against the sha256 written with it, and a cache of
another format, of other code or for another environment counts as absent. The stat names the
file's inode, device and ctime, so a cache copied in from elsewhere (a restored cache, another
checkout) never matches a ledger file. A ledger that holds intents, or that is not in the tool's
own layout, is never cached. `--no-cache`
neither reads nor writes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.formats import files
from reconciler.formats.atomic import atomic_write
from reconciler.formats.cache import clock, code_digest
from reconciler.ledger import file
from reconciler.ledger.model import Entry, Ledger
from reconciler.ledger.text import OnDisk

log = logging.getLogger(__name__)

FORMAT = "reconciler ledger read cache 1"
Stat = tuple[int, int, int, int, int]


def _stat(path: Path) -> Stat | None:
    """The ledger file's stat, None when it is not a regular file (file.load decides then)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def read(path: Path, environment: str, *, shown: str, root: Path, cache_file: Path) -> Ledger:
    """file.load(path, environment, reading=True), from `cache_file` when it vouches for the
    ledger file as it is, and writing it for the next run when it can."""
    try:
        files.inside_or_absent(path, root)
    except (files.Unreadable, OSError):
        now = None  # file.load says what is wrong
    else:
        now = _stat(path)
    if now is not None:
        found = _cached(cache_file, path, environment, now)
        if found is not None:
            return found
    try:
        started = clock(cache_file.parent)
    except OSError as exc:
        log.debug("ledger read cache %s not used: %s", cache_file, exc)
        started = None
    before = _stat(path)
    ledger = file.load(path, environment, shown=shown, root=root, reading=True)
    if started is not None and before is not None and before == _stat(path):
        _, mtime, ctime, _, _ = before
        if mtime < started and ctime < started:  # else "racy": read again next time
            _write(cache_file, ledger, before)
    return ledger


def _salt(environment: str) -> str:
    return f"{code_digest(FORMAT)}:{environment}"


# The file, a line each, read and written a line at a time (a ledger of 100,000 records never
# has its cache held whole): the head (format, salt, the ledger file's stat, its lineage and
# serial), the envelopes and the texts that many records share (referred to by index), one line
# per record, and last the sha256 of every line before it.


def vouches(path: Path, environment: str, *, cache_file: Path) -> bool:
    """Whether `cache_file`'s head names the ledger file as it is now: read() will then most
    likely answer from the cache (its body is checked only then). Cheap: one stat, one line."""
    now = _stat(path)
    if now is None:
        return False
    try:
        with cache_file.open("rb") as handle:
            return _head(handle.readline(), environment, now) is not None
    except (OSError, ValueError):
        return False


def _head(line: bytes, environment: str, stat: Stat) -> dict[str, Any] | None:
    """The cache's head line read, when it is of this format, code and environment and names
    the ledger file's `stat`."""
    head = json.loads(line)
    if (
        isinstance(head, dict)
        and head.get("format") == FORMAT
        and head.get("salt") == _salt(environment)
        and head.get("stat") == list(stat)
    ):
        return head
    return None


def _cached(cache_file: Path, path: Path, environment: str, stat: Stat) -> Ledger | None:
    try:
        with cache_file.open("rb") as handle:
            check = hashlib.sha256()
            line = handle.readline()
            check.update(line)
            head = _head(line, environment, stat)
            if head is None:
                return None
            shared = []
            for _ in range(2):
                line = handle.readline()
                check.update(line)
                shared.append(json.loads(line))
            envelopes, texts = shared
            records: dict[str, Entry] = {}
            for line in handle:
                if line.startswith(b'{"sha256":'):
                    if json.loads(line)["sha256"] != check.hexdigest():
                        return None
                    return Ledger(
                        environment=environment,
                        lineage=head["lineage"],
                        serial=head["serial"],
                        records=records,
                        intents={},
                    )
                check.update(line)
                key, kind, identity, envelope, digest, source, commit, applied, status, *at = (
                    json.loads(line)
                )
                unverified, start, end, crc, parents = at
                records[key] = Entry(
                    kind=texts[kind],
                    identity=identity,
                    envelope=envelopes[envelope],
                    digest=digest,
                    source=source,
                    commit=texts[commit] if commit is not None else None,
                    applied_at=texts[applied],
                    status=texts[status],
                    unverified=unverified,
                    in_file=OnDisk(path, start, end, crc),
                    parents=tuple(parents),
                )
        return None  # torn: no checksum at the end
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.debug("ledger read cache %s ignored: %s", cache_file, exc)
        return None


def _write(cache_file: Path, ledger: Ledger, stat: Stat) -> None:
    """Keep what the lean reading gave (only then: every record in its place in the file, and
    no intent, which a plan reads whole)."""
    if ledger.intents or not ledger.lineage:
        return
    if any(type(entry._in_file) is not OnDisk for entry in ledger.records.values()):
        return  # read whole: not the tool's layout
    envelopes: dict[str, int] = {}
    envelope_of: list[int] = []  # each record's envelope, numbered, in the records' order
    texts: dict[str, int] = {}
    for entry in ledger.records.values():
        text = json.dumps(entry.envelope, sort_keys=True)
        envelope_of.append(envelopes.setdefault(text, len(envelopes)))
        for value in (entry.kind, entry.commit, entry.applied_at, entry.status):
            if value is not None:
                texts.setdefault(value, len(texts))

    def lines() -> Iterator[str]:
        check = hashlib.sha256()

        def line(value: Any) -> str:
            text = json.dumps(value, separators=(",", ":")) + "\n"
            check.update(text.encode())
            return text

        head = {"format": FORMAT, "salt": _salt(ledger.environment), "stat": list(stat)}
        yield line({**head, "lineage": ledger.lineage, "serial": ledger.serial})
        yield line([json.loads(e) for e in envelopes])
        yield line(list(texts))
        for (key, entry), envelope in zip(ledger.records.items(), envelope_of, strict=True):
            place = entry._in_file
            assert type(place) is OnDisk
            commit = None if entry.commit is None else texts[entry.commit]
            yield line(
                [
                    key,
                    texts[entry.kind],
                    entry.identity,
                    envelope,
                    entry.digest,
                    entry.source,
                    commit,
                    texts[entry.applied_at],
                    texts[entry.status],
                    entry.unverified,
                    place.start,
                    place.end,
                    place.crc,
                    list(entry.parents),
                ]
            )
        yield json.dumps({"sha256": check.hexdigest()}) + "\n"

    try:
        atomic_write(cache_file, lines())
    except OSError as exc:
        log.debug("ledger read cache %s not written: %s", cache_file, exc)
