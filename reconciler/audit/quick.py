"""Checking a line as reconciler writes it, fast: `audit verify` of 100,000 lines in well under
two seconds, where parsing and validating each line as a model, then encoding it again for its
hash, takes several times that.

The trail writes each line as its own canonical JSON (sorted keys, no spaces). One regular
expression recognises such a line of a valid entry whole (every key, in order, with a value of
its type, within the model's bounds); for such a line, the canonical JSON without `hash` is the
line with its `hash` member cut out, so its hash needs no parsing. The expression is strict,
not complete: a line it does not recognise (a text with an escaped character, a line that was
reformatted) is read the slow way (`entry.read_line`), which decides. So whatever `quick_read`
accepts, `read_line` accepts with the same values (tests/audit/test_quick.py checks both ways).
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple, get_args

from reconciler.audit.entry import RESULTS, ActionName, CallStatus, Via

# A text without escapes (json.dumps writes every other character as it is), of bounded length.
_TEXT = r'"[^"\\\x00-\x1f]{{{low},{high}}}"'
_TEXT_1000 = _TEXT.format(low=0, high=1000)
_HASH = r'"sha256:[0-9a-f]{64}"'
_INT = r"[1-9][0-9]{0,18}"  # 1 to 19 digits: below 2**63 is checked after the match
_BOUND = 2**63
_TEXTS = rf"\[(?:{_TEXT_1000}(?:,{_TEXT_1000})*)?\]"
_STATUSES = "|".join(get_args(CallStatus))
_ACTIONS = "|".join(get_args(ActionName))
_CALL = (
    rf'\{{"action":"(?:{_ACTIONS})",'
    r'"key":"(?=[^"\\\x00-\x1f]{3,1000}")[a-z][a-z0-9_]*:[^"\\\x00-\x1f]+",'
    rf'"redox_log_id":(?:null|{_TEXT_1000}),'
    rf'"status":"(?:{_STATUSES})"\}}'
)
_LINE = re.compile(
    (
        rf'\{{"actor":{_TEXT.format(low=1, high=1000)},'
        rf'"approved_by":{_TEXTS},'
        rf'"calls":\[(?:{_CALL}(?:,{_CALL})*)?\],'
        r'"commit":(?:null|"[0-9a-f]{40}(?:[0-9a-f]{24})?"),'
        rf'"environment":"(?P<environment>[^"\\\x00-\x1f]{{1,255}})",'
        rf'(?P<hash_member>"hash":"sha256:(?P<hash>[0-9a-f]{{64}})",)'
        rf'"plan_digest":(?:null|{_HASH}),'
        rf'"policy_overrides":{_TEXTS},'
        r'"prev":"(?P<prev>sha256:[0-9a-f]{64})",'
        rf'"pull_request":(?:null|(?P<pull_request>{_INT})),'
        rf'"result":"(?:{"|".join(RESULTS)})",'
        rf'"seq":(?P<seq>{_INT}),'
        r'"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",'
        rf'"via":"(?:{"|".join(get_args(Via))})"\}}'
    ).encode("ascii")
)


class Quick(NamedTuple):
    """What the chain needs of a line (a tuple: made for every line of a trail)."""

    seq: int
    prev: str
    hash: str
    environment: str


def quick_read(raw: bytes) -> Quick | None:
    """The chain's fields of a line written as reconciler writes it, whose hash matches; None
    when the line must be read the slow way (which may still accept it).

    On bytes: a text's length bound counts bytes, never fewer than its characters, so a line
    recognised here is within the model's bounds; one that is not UTF-8 is left to the slow
    way."""
    found = _LINE.fullmatch(raw)
    if found is None:
        return None
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if int(found["seq"]) >= _BOUND or int(found["pull_request"] or 0) >= _BOUND:
        return None  # beyond the model's bound: the slow way refuses it
    start, end = found.span("hash_member")
    digest = found["hash"].decode("ascii")
    if hashlib.sha256(raw[:start] + raw[end:]).hexdigest() != digest:
        return None
    return Quick(
        int(found["seq"]),
        found["prev"].decode("ascii"),
        "sha256:" + digest,
        found["environment"].decode("utf-8"),
    )
