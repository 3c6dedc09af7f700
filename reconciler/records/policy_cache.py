"""The compiled policies kept between runs (`.reconciler/cache/policies.json`, beside the stat
index): each expression's intermediate form (policy.lowering) and the input paths it reads, so
a warm `plan` neither imports celpy nor parses.

The file is two lines: a header (the format, the salt, the sha256 of the second line) and the
entries, each keyed by the salt and the expression's text and holding the text. The salt
covers everything a form depends on: reconciler.policy's compiler (the source of every module
of the package), celpy's parser, grammar and evaluator, and lark's version (all read as
files: finding them imports neither). A file of another salt is foreign, one whose entries
do not have their sha256 is damaged: either is ignored whole, never truth; an entry of
another text, or a form policy.closures cannot build, is absent. The file is written
atomically, only when a run compiled something new; `--no-cache` bypasses it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from reconciler import policy
from reconciler.formats.atomic import atomic_write
from reconciler.formats.cache import FOLDER, make_cache_folder
from reconciler.policy import KeptForm

log = logging.getLogger(__name__)

FILE: Final = "policies.json"
FORMAT: Final = 1
_CELPY: Final = (
    "__init__.py",
    "adapter.py",
    "celparser.py",
    "celtypes.py",
    "evaluation.py",
    "cel.lark",
)
_KEEP: Final = 4  # entries beyond this many times those a run used are dropped when it writes


@cache
def salt() -> str | None:
    """sha256 of what a form depends on; None when celpy or lark cannot be found."""
    h = hashlib.sha256(f"reconciler policies {FORMAT}\n".encode())
    compiler = Path(policy.__file__).resolve().parent
    ours = tuple(sorted(p.name for p in compiler.glob("*.py")))
    folders: list[tuple[Path, tuple[str, ...]]] = [(compiler, ours)]
    theirs: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("celpy", _CELPY),
        ("lark", ("__init__.py",)),
    )
    for name, named in theirs:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            return None
        folders.append((Path(locations[0]), named))
    try:
        for folder, files in folders:
            for file in files:
                h.update(f"{folder.name}/{file}\n".encode())
                h.update((folder / file).read_bytes())
    except OSError:
        return None
    return h.hexdigest()


@contextmanager
def kept_policies(repo: Path, *, enabled: bool = True) -> Iterator[PolicyCache | None]:
    """The compiled policies kept in `repo` for a run that compiles them (None when not
    `enabled`: --no-cache), written back at its end if it compiled something new."""
    kept = PolicyCache.open(repo / FOLDER) if enabled else None
    try:
        yield kept
    finally:
        if kept is not None:
            kept.save()


@dataclass
class PolicyCache:
    """The compiled policies of one repository, as read at the start of a run (a FormStore of
    reconciler.policy)."""

    path: Path
    salt: str
    entries: dict[str, Any]
    added: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, folder: Path) -> PolicyCache | None:
        """The cache in `folder` (None when what it depends on cannot be known)."""
        current = salt()
        if current is None:
            return None
        path = folder / FILE
        try:
            entries = _read(path, current)
        except FileNotFoundError:
            entries = {}
        except (OSError, ValueError) as exc:
            log.debug("policy cache %s ignored: %s", path, exc)
            entries = {}
        return cls(path, current, entries)

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.salt}\n{text}".encode()).hexdigest()

    def get(self, text: str) -> KeptForm | None:
        """The entry kept for `text`, if it checks out."""
        key = self.key(text)
        found = self.added.get(key) or self.entries.get(key)
        if not isinstance(found, dict) or found.get("text") != text:
            return None
        form, paths = found.get("form"), found.get("paths")
        if form is not None and not isinstance(form, list):
            return None
        try:
            shaped = _paths(paths)
        except ValueError:
            return None
        self.used.add(key)
        return KeptForm(form, shaped)

    def put(self, text: str, entry: KeptForm) -> None:
        """Keep `entry` for `text` (written by `save`)."""
        paths = None if entry.paths is None else [list(p) for p in entry.paths]
        key = self.key(text)
        self.used.add(key)
        self.added[key] = {"text": text, "form": entry.form, "paths": paths}

    def save(self) -> None:
        """Write the file when this run compiled something new; a failure only costs the next
        run its speed."""
        if not self.added:
            return
        entries = {**self.entries, **self.added}
        if len(entries) > _KEEP * len(self.used) + 256:
            entries = {k: v for k, v in entries.items() if k in self.used}
        body = json.dumps(entries, separators=(",", ":"), ensure_ascii=True)
        header = {"format": FORMAT, "salt": self.salt, "sha256": _sha256(body.encode())}
        folder = self.path.parent
        try:
            make_cache_folder(folder)
            atomic_write(self.path, f"{json.dumps(header)}\n{body}\n")
        except OSError as exc:
            log.debug("policy cache %s not written: %s", self.path, exc)
            return
        self.entries, self.added = entries, {}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, salt: str) -> dict[str, Any]:
    """The entries of the file at `path`; ValueError when it is foreign or damaged."""
    header, _, body = path.read_bytes().partition(b"\n")
    found = json.loads(header)
    if not isinstance(found, dict) or found.get("format") != FORMAT or found.get("salt") != salt:
        raise ValueError("made by another compiler, celpy or lark")
    body = body.rstrip(b"\n")
    if found.get("sha256") != _sha256(body):
        raise ValueError("damaged")
    entries = json.loads(body)
    if not isinstance(entries, dict):
        raise ValueError("damaged")
    return entries


def _paths(paths: Any) -> tuple[tuple[str, ...], ...] | None:
    """The paths of an entry as compile_expression has them; ValueError when malformed."""
    if paths is None:
        return None
    if not isinstance(paths, list):
        raise ValueError("paths")
    shaped: list[tuple[str, ...]] = []
    for path in paths:
        if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
            raise ValueError("paths")
        shaped.append(tuple(path))
    return tuple(shaped)
