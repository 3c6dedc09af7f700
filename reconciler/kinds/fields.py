"""Field rules shared by the record kinds: OID, phone, email, name and the USPS address rules.

Each rule is declared once, as a constraint that pydantic checks and that the JSON Schema (and
so the editor) states: a `pattern`, an `enum`, or an `if`/`then` on a sibling's value (`When`).
A rule also says what is wrong in words, with the fix: validate puts the value in front of
those words, the editor shows them as they are. Patterns are written so that JavaScript (the
editor) and Rust (pydantic) read them alike: no `\\d`, no lookarounds, no Python-only syntax.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from reconciler.model import Wire

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """A constraint on a text value: a pattern or a closed list of values, and `problem`, what
    a value that breaks it is not ("not an E.164 phone number: write it as +16085551234")."""

    problem: str
    pattern: str | None = None
    values: tuple[str, ...] = ()
    # A sharper message for one value than `problem` gives (which arc of an OID is wrong).
    explain: Callable[[str], str | None] | None = None
    # The editor checks this JSON Schema format instead of the pattern: the same expression.
    format: str | None = None

    @property
    def editor_message(self) -> str:
        """What the editor shows at a value that breaks the rule."""
        return self.problem[:1].upper() + self.problem[1:] + "."

    def message(self, value: str) -> str:
        """What validate says of a value that breaks the rule."""
        sharper = self.explain(value) if self.explain is not None else None
        return sharper or f"{value!r} is {self.problem}"

    @property
    def field(self) -> Any:
        """The constraint that makes pydantic check the rule and the JSON Schema state it:
        `Annotated[str, RULE.field]`."""
        if self.values:
            return Field(json_schema_extra={"errorMessage": self.editor_message})
        return Field(pattern=self.pattern, json_schema_extra=self._schema_extra)

    @property
    def type(self) -> Any:
        """The annotated type of a value that keeps the rule."""
        if self.values:
            return Annotated[Literal[self.values], self.field]
        return Annotated[str, self.field]

    def _schema_extra(self, schema: JsonDict) -> None:
        schema["patternErrorMessage"] = self.editor_message
        if self.format is not None:
            del schema["pattern"]
            schema["format"] = self.format

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.type)

    def holds(self, value: Any) -> bool:
        """Whether `value` keeps the rule, as pydantic checks it."""
        try:
            self._adapter.validate_python(value, strict=True)
        except ValidationError:
            return False
        return True

    def schema(self) -> JsonDict:
        """The rule's JSON Schema."""
        return self._adapter.json_schema()


_BY_PATTERN: dict[str, Rule] = {}


def text_rule(
    pattern: str,
    problem: str,
    *,
    explain: Callable[[str], str | None] | None = None,
    format: str | None = None,
) -> Rule:
    """A pattern rule, registered so validate can word pydantic's pattern errors."""
    rule = Rule(problem, pattern=pattern, explain=explain, format=format)
    _BY_PATTERN[pattern] = rule
    return rule


def pattern_message(pattern: str, value: str) -> str | None:
    """validate's message for `value`, which does not match the declared `pattern`."""
    rule = _BY_PATTERN.get(pattern)
    return rule.message(value) if rule is not None else None


@dataclass(frozen=True)
class When:
    """Rules that hold for some fields while a sibling's value matches a pattern. pydantic
    checks them in a field validator (`check`), one field at a time, so each problem is its own
    field's; the JSON Schema states them as `if`/`then` (`schema`)."""

    key: str
    pattern: str
    rules: Mapping[str, Rule] = field(default_factory=dict)

    @functools.cached_property
    def _condition(self) -> Rule:
        return Rule(problem="", pattern=self.pattern)

    def check(self, value: Any, info: ValidationInfo) -> Any:
        """A field validator's body: `value` of the field `info` names, checked by the rule for
        that field when the sibling matches. A sibling that failed its own rules is not in
        `info.data`, and decides nothing."""
        rule = self.rules.get(info.field_name or "")
        if rule is None or value is None or not self._condition.holds(info.data.get(self.key)):
            return value
        if not rule.holds(value):
            raise ValueError(rule.message(value))
        return value

    def schema(self) -> JsonDict:
        """The `if`/`then` of these rules (null stays allowed where the field allows it)."""
        condition = {"type": "string", "pattern": self.pattern}
        return {
            "if": {"properties": {self.key: condition}, "required": [self.key]},
            "then": {
                "properties": {
                    name: {"anyOf": [rule.schema(), {"type": "null"}]}
                    for name, rule in self.rules.items()
                }
            },
        }


def any_case(word: str) -> str:
    """A pattern of `word` in any case (JavaScript and Rust both lack a portable flag for it)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def all_of(*conditions: JsonDict | Callable[[], JsonDict]) -> Callable[[JsonDict], None]:
    """A model's json_schema_extra that adds `conditions` (if/then blocks) under `allOf`. A
    condition may be given as the function that makes it (`When.schema`): it is then made when
    a JSON Schema is asked for (`reconciler schema`), not when the model is defined, which
    would build validators for the rules at every start of the CLI."""

    def extra(schema: JsonDict) -> None:
        made = [c() if callable(c) else c for c in conditions]
        schema.setdefault("allOf", []).extend(made)

    return extra


# --- OID ------------------------------------------------------------------------------------

ARC = "(?:0|[1-9][0-9]*)"
# Exactly the Carequality rule: first arc 0, 1 or 2; under 0 or 1 the second arc is 0 to 39.
OID_PATTERN = rf"^(?:[01]\.(?:[0-9]|[1-3][0-9])|2\.{ARC})(?:\.{ARC})*$"
OID_EXAMPLE = "2.16.840.1.113883.3.6147.458.12345"


def _oid_reason(value: str) -> str:
    """Why `value` is not an OID, in the words of the rule it breaks first."""
    arcs = value.split(".")
    if len(arcs) < 2 or not all(arc.isascii() and arc.isdigit() for arc in arcs):
        why = "use digits and dots with at least two arcs"
    elif any(len(arc) > 1 and arc.startswith("0") for arc in arcs):
        why = "no arc may have leading zeros"
    elif int(arcs[0]) > 2:
        why = "the first arc must be 0, 1 or 2"
    else:
        why = f"under arc {arcs[0]} the second arc is 0 to 39"
    return f"{value!r} is not an OID: {why}, e.g. {OID_EXAMPLE}"


OID = text_rule(
    OID_PATTERN,
    "not an OID: digits and dots, at least two arcs, no leading zeros, first arc 0, 1 or 2, "
    f"second arc 0 to 39 under 0 or 1, e.g. {OID_EXAMPLE}",
    explain=_oid_reason,
)


def is_oid(value: str) -> bool:
    """Whether `value` keeps the OID rule."""
    return OID.holds(value)


# --- phone, email, name ---------------------------------------------------------------------

PHONE = text_rule(
    r"^\+[0-9]{8,15}$", "not an E.164 phone number: write it as +16085551234 (+ and 8 to 15 digits)"
)
# The expression the editor (yaml-language-server) checks `format: email` with, written so
# that Rust reads it alike: what the editor flags, validate reports, and nothing more.
EMAIL = text_rule(
    r"^(([^<>()\[\]\\.,;:\s@" + '"' + r"]+(\.[^<>()\[\]\\.,;:\s@" + '"' + r"]+)*)|(" + '"'
    r".+" + '"' + r"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|"
    r"(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$",
    "not an email address: write it as name@example.org",
    format="email",
)
NAME_LIMIT = 200


def _name_reason(value: str) -> str:
    if not value:
        return "must not be empty"
    if len(value) > NAME_LIMIT:
        return f"is too long ({len(value)} characters; at most {NAME_LIMIT})"
    return "must not contain control characters (tabs, newlines)"


# Length and control characters in one pattern: the editor counts characters as pydantic does
# only in a pattern (its maxLength counts UTF-16 units).
NAME = text_rule(
    rf"^[^\x00-\x1f\x7f]{{1,{NAME_LIMIT}}}$",
    f"not a name: 1 to {NAME_LIMIT} characters, no control characters (tabs, newlines)",
    explain=_name_reason,
)

Oid = Annotated[str, OID.field]
Phone = Annotated[str, PHONE.field]
Email = Annotated[str, EMAIL.field]
Name = Annotated[str, NAME.field]

# --- USPS addresses -------------------------------------------------------------------------

_USPS = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM FM MH PW "
    "AA AE AP"
)
USPS_STATES = tuple(_USPS.split())
US_STATE = Rule(
    "not a two-letter USPS state code, as a USA address needs (e.g. WI)", values=USPS_STATES
)
US_ZIP = text_rule(
    r"^[0-9]{5}(-[0-9]{4})?$",
    "not a US ZIP code: use 5 digits or 5+4 (53704-1234), in quotes",
)
# `country` USA or US, in any case.
IN_THE_USA = When(
    "country", f"^(?:{any_case('USA')}|{any_case('US')})$", {"state": US_STATE, "zip": US_ZIP}
)


class Address(Wire):
    """A Redox address; USPS rules apply when the country is the USA."""

    model_config = ConfigDict(json_schema_extra=all_of(IN_THE_USA.schema))

    # Declared first: the state and zip rules read it (a field validator sees earlier fields).
    country: str | None = None
    street_address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    county: str | None = None

    @field_validator("state", "zip")
    @classmethod
    def _usps(cls, value: Any, info: ValidationInfo) -> Any:
        return IN_THE_USA.check(value, info)
