"""A catalog of single mistakes, each breaking one rule at one key of a valid record
(tests/factories.py: complete_organization() and provider()), so that a test knows where
validate (and an editor) must report each one and that nothing else is wrong.

A record is a Python mapping written as YAML in block style; a mistake's value that is a
collection is written in flow style (`[a, b]`), so it sits on its key's line. `Raw("01234")`
writes the text unquoted, as a person would (YAML 1.1 reads it as a number, or yes as a
boolean); other text is quoted where YAML would read it as something else.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from factories import GATEWAY, complete_organization, organizations, provider, providers

from reconciler.formats import yamltext

ORGANIZATION, PROVIDER = "organization", "provider"
FOLDERS = {ORGANIZATION: "orgs", PROVIDER: "providers"}

Step = str | int
Path = tuple[Step, ...]


@dataclass(frozen=True)
class Raw:
    """A scalar written exactly as `text`, unquoted."""

    text: str


@dataclass(frozen=True)
class Flow:
    """A list or mapping written in flow style, on its key's line."""

    value: Any


class Dumper(yamltext.Dumper):
    pass


def _raw(dumper: yaml.SafeDumper, value: Raw) -> yaml.ScalarNode:
    # The tag YAML resolves the plain text to: so the emitter writes it unquoted.
    tag = dumper.resolve(yaml.ScalarNode, value.text, (True, False))
    return dumper.represent_scalar(tag, value.text, style=None)


def _flow(dumper: yaml.SafeDumper, value: Flow) -> yaml.Node:
    if isinstance(value.value, dict):
        return dumper.represent_mapping("tag:yaml.org,2002:map", value.value, flow_style=True)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value.value, flow_style=True)


Dumper.add_representer(Raw, _raw)
Dumper.add_representer(Flow, _flow)


def to_yaml(record: dict[str, Any]) -> str:
    """The record as a person would write it: block style, one key per line."""
    text: str = yaml.dump(record, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=4096)
    return text


def key_line(text: str, path: Path) -> int:
    """The 1-based line of the key at `path` (of the item, for a list index); the line where
    the document's mapping starts for the empty path."""
    node = yaml.compose(text)
    assert node is not None
    line = node.start_mark.line + 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            key, node = next((k, v) for k, v in node.value if k.value == step)
            line = key.start_mark.line + 1
        else:
            assert isinstance(node, yaml.SequenceNode)
            assert isinstance(step, int)
            node = node.value[step]
            line = node.start_mark.line + 1
    return line


def dotted(path: Path) -> str:
    """contacts[0].phone_number.work"""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


_MISSING: Any = object()


@dataclass(frozen=True)
class Mistake:
    """One mistake: the value at `path` replaced (or the key removed, without a value), and
    where it is reported: the key's line, or for a removed key the line of the key that holds
    the mapping it is missing from. `relies_on`: keys whose valid values the rule reads."""

    name: str
    kind: str
    path: Path
    value: Any = _MISSING
    relies_on: tuple[Path, ...] = ()
    # What the message says (the rule, or the fix).
    says: str = ""
    # The key the problem is about, when it lies inside the value written (type: {value: x}).
    at: Path | None = None
    # False for the one class an editor cannot see: YAML 1.1 scalars in text fields (an
    # unquoted yes, 12:30, 1_000), which it reads as text where PyYAML does not.
    editor: bool = True

    @property
    def removes(self) -> bool:
        return self.value is _MISSING

    def apply(self, record: dict[str, Any]) -> None:
        *parents, last = self.path
        holder: Any = record
        for step in parents:
            holder = holder[step]
        if self.removes:
            del holder[last]
        else:
            holder[last] = self.value

    @property
    def about(self) -> Path:
        return self.at or self.path

    def line(self, text: str) -> int:
        """Where validate reports the mistake in `text`."""
        return key_line(text, self.path[:-1] if self.removes else self.about)

    def named_in(self, message: str) -> bool:
        """Whether `message` names the key this mistake is about."""
        return message.startswith(dotted(self.about) + ":") or repr(self.about[-1]) in message

    def touches(self) -> tuple[Path, ...]:
        return (self.path, *self.relies_on)

    def independent_of(self, other: Mistake) -> bool:
        """Neither changes or reads a key at, above or below a key the other changes."""
        return not any(
            a[: len(b)] == b or b[: len(a)] == a for a in self.touches() for b in other.touches()
        )


# --- valid records -----------------------------------------------------------------------------

# The records every mistake is made on (tests/factories.py builds them), and strategies of more.
BASES = {ORGANIZATION: complete_organization(), PROVIDER: provider()}
RECORDS = {ORGANIZATION: organizations, PROVIDER: providers}

# --- the mistakes ------------------------------------------------------------------------------

CONTACT = ("contacts", 0)
ADDRESS = ("address",)
COUNTRY = ("address", "country")
AVAILABILITY = ("roles", 0, "availability", 0)
ROLE_OID = ("roles", 0, "organization", "identifiers", 0)

ORGANIZATION_MISTAKES = [
    Mistake(
        "OID syntax: second arc over 39",
        ORGANIZATION,
        ("oid",),
        "1.40.1",
        says="second arc is 0 to 39",
    ),
    Mistake(
        "OID syntax: leading zero",
        ORGANIZATION,
        ("oid",),
        "2.16.0840.1",
        says="no arc may have leading zeros",
    ),
    Mistake(
        "OID syntax: first arc", ORGANIZATION, ("oid",), "3.1", says="first arc must be 0, 1 or 2"
    ),
    Mistake("oid missing", ORGANIZATION, ("oid",), says="missing required key 'oid'"),
    Mistake("name missing", ORGANIZATION, ("name",), says="missing required key 'name'"),
    Mistake("name empty", ORGANIZATION, ("name",), "", says="must not be empty"),
    Mistake("name too long", ORGANIZATION, ("name",), "x" * 201, says="at most 200"),
    Mistake(
        "name with a tab",
        ORGANIZATION,
        ("name",),
        "North\twind",
        says="must not contain control characters",
    ),
    Mistake(
        "name a number", ORGANIZATION, ("name",), Raw("12345"), says='put it in quotes ("12345")'
    ),
    Mistake(
        "name yes",
        ORGANIZATION,
        ("name",),
        Raw("yes"),
        editor=False,
        says="write true or false, or quote the text",
    ),
    Mistake(
        "type missing", ORGANIZATION, ("type",), says="write type: Implementer or type: Connection"
    ),
    Mistake(
        "type unknown",
        ORGANIZATION,
        ("type",),
        "Gateway",
        says="is not allowed: write 'Implementer' or 'Connection'",
    ),
    Mistake(
        "type value unknown",
        ORGANIZATION,
        ("type",),
        Flow({"system": "urn:cq", "value": "implementer"}),
        at=("type", "value"),
        says="'implementer' is not allowed",
    ),
    Mistake(
        "part_of syntax",
        ORGANIZATION,
        ("part_of",),
        "2.16.840.1.113883.3.6147.458.02",
        says="no arc may have leading zeros",
    ),
    Mistake("part_of missing", ORGANIZATION, ("part_of",), says="missing required key 'part_of'"),
    Mistake("active text", ORGANIZATION, ("active",), "maybe", says="expected true or false"),
    Mistake(
        "active yes",
        ORGANIZATION,
        ("active",),
        Raw("yes"),
        says="write true or false, or quote the text",
    ),
    Mistake(
        "active off",
        ORGANIZATION,
        ("active",),
        Raw("Off"),
        says="write true or false, or quote the text",
    ),
    Mistake("unknown key", ORGANIZATION, ("colour",), "blue", says="unknown key 'colour'"),
    Mistake(
        "unknown key in address",
        ORGANIZATION,
        (*ADDRESS, "cty"),
        "Madison",
        says="did you mean 'city'?",
    ),
    Mistake(
        "Redox spelling of a key",
        ORGANIZATION,
        ("PartOf",),
        GATEWAY,
        says="did you mean 'part_of'?",
    ),
    Mistake("directory empty", ORGANIZATION, ("directory",), "", says="must not be empty"),
    Mistake(
        "destination_id a list",
        ORGANIZATION,
        ("destination_id",),
        Flow(["a", "b"]),
        says="expected text, a mapping of keys or null",
    ),
    Mistake(
        "alias a number",
        ORGANIZATION,
        ("aliases", 1),
        Raw("01234"),
        says='put it in quotes ("01234")',
    ),
    Mistake(
        "identifier without id",
        ORGANIZATION,
        ("identifiers", 0, "id"),
        says="missing required key 'id'",
    ),
    Mistake(
        "email",
        ORGANIZATION,
        (*CONTACT, "email_addresses", 0),
        "support@redoxengine",
        says="not an email address: write it as name@example.org",
    ),
    Mistake(
        "email with a space",
        ORGANIZATION,
        (*CONTACT, "email_addresses", 0),
        "a b@c.org",
        says="not an email address",
    ),
    Mistake(
        "phone with dashes",
        ORGANIZATION,
        (*CONTACT, "phone_number", "work"),
        "608-555-0100",
        says="write it as +16085551234",
    ),
    Mistake(
        "phone too short",
        ORGANIZATION,
        (*CONTACT, "phone_number", "mobile"),
        "+1608555",
        says="not an E.164 phone number",
    ),
    Mistake(
        "phone a number",
        ORGANIZATION,
        (*CONTACT, "phone_number", "work"),
        Raw("16085550100"),
        says='put it in quotes ("16085550100")',
    ),
    Mistake(
        "Implementer without contacts",
        ORGANIZATION,
        ("contacts",),
        relies_on=(("type",),),
        says="an Implementer needs at least one contact",
    ),
    Mistake(
        "Implementer with no contact",
        ORGANIZATION,
        ("contacts",),
        Flow([]),
        relies_on=(("type",),),
        says="an Implementer needs at least one contact",
    ),
    Mistake(
        "state a name",
        ORGANIZATION,
        (*ADDRESS, "state"),
        "Massachusetts",
        relies_on=(COUNTRY,),
        says="not a two-letter USPS state code",
    ),
    Mistake(
        "state lowercase",
        ORGANIZATION,
        (*ADDRESS, "state"),
        "wi",
        relies_on=(COUNTRY,),
        says="not a two-letter USPS state code",
    ),
    Mistake(
        "ZIP too short",
        ORGANIZATION,
        (*ADDRESS, "zip"),
        "5370",
        relies_on=(COUNTRY,),
        says="use 5 digits or 5+4",
    ),
    Mistake(
        "ZIP unquoted",
        ORGANIZATION,
        (*ADDRESS, "zip"),
        Raw("01234"),
        relies_on=(COUNTRY,),
        says='put it in quotes ("01234")',
    ),
    Mistake(
        "city no",
        ORGANIZATION,
        (*ADDRESS, "city"),
        Raw("no"),
        editor=False,
        says="write true or false, or quote the text",
    ),
    Mistake(
        "county 12:30",
        ORGANIZATION,
        (*ADDRESS, "county"),
        Raw("12:30"),
        editor=False,
        says='put it in quotes ("12:30")',
    ),
    Mistake(
        "endpoint without a name",
        ORGANIZATION,
        ("endpoints", 0, "name"),
        says="Carequality requires a display name for every endpoint",
    ),
    Mistake(
        "endpoint name empty", ORGANIZATION, ("endpoints", 0, "name"), "", says="must not be empty"
    ),
]

PROVIDER_MISTAKES = [
    Mistake(
        "no identifier",
        PROVIDER,
        ("identifiers",),
        Flow([]),
        says="must not be empty: at least one",
    ),
    Mistake(
        "identifiers missing", PROVIDER, ("identifiers",), says="missing required key 'identifiers'"
    ),
    Mistake(
        "NPI of 9 digits",
        PROVIDER,
        ("identifiers", 0, "id"),
        "124531959",
        says="an NPI is exactly 10 digits",
    ),
    Mistake(
        "NPI unquoted",
        PROVIDER,
        ("identifiers", 0, "id"),
        Raw("1245319599"),
        says='put it in quotes ("1245319599")',
    ),
    Mistake(
        "identifier without id",
        PROVIDER,
        ("identifiers", 0, "id"),
        says="missing required key 'id'",
    ),
    Mistake(
        "active on", PROVIDER, ("active",), Raw("on"), says="write true or false, or quote the text"
    ),
    Mistake(
        "dob not a date",
        PROVIDER,
        ("demographics", "dob"),
        "1963-02-30",
        says="not an ISO 8601 date",
    ),
    Mistake(
        "dob slashes", PROVIDER, ("demographics", "dob"), "2000/02/01", says="not an ISO 8601 date"
    ),
    Mistake(
        "unknown key in demographics",
        PROVIDER,
        ("demographics", "nick_name"),
        "Dee",
        says="unknown key 'nick_name'",
    ),
    Mistake(
        "phone",
        PROVIDER,
        ("demographics", "phone_number", "office"),
        "608-555-1234",
        says="not an E.164 phone number",
    ),
    Mistake(
        "email",
        PROVIDER,
        ("demographics", "email_addresses", 0),
        "dana",
        says="not an email address: write it as name@example.org",
    ),
    Mistake(
        "state",
        PROVIDER,
        ("demographics", "addresses", 0, "state"),
        "Wisc",
        relies_on=(("demographics", "addresses", 0, "country"),),
        says="not a two-letter USPS state code",
    ),
    Mistake(
        "start date month 13",
        PROVIDER,
        ("qualifications", 0, "start_date"),
        "2000-13-01",
        says="not an ISO 8601 date",
    ),
    Mistake(
        "end date hour 25",
        PROVIDER,
        ("qualifications", 0, "end_date"),
        "2030-01-01T25:00:00Z",
        says="not an ISO 8601 date",
    ),
    Mistake(
        "location status",
        PROVIDER,
        ("roles", 0, "locations", 0, "status"),
        "retired",
        says="use Active, Suspended or Inactive",
    ),
    Mistake("day", PROVIDER, (*AVAILABILITY, "days", 1), "Funday", says="'Funday' is not allowed"),
    Mistake("days not a list", PROVIDER, (*AVAILABILITY, "days"), "Monday", says="expected a list"),
    Mistake(
        "time 9am",
        PROVIDER,
        (*AVAILABILITY, "available_end_time"),
        "9am",
        says="use HH:MM or HH:MM:SS",
    ),
    Mistake(
        "time unquoted",
        PROVIDER,
        (*AVAILABILITY, "available_start_time"),
        Raw("17:00"),
        editor=False,
        says="write times in quotes",
    ),
    Mistake(
        "role organization OID",
        PROVIDER,
        (*ROLE_OID, "id"),
        "1.2.03",
        relies_on=((*ROLE_OID, "id_type"),),
        says="no arc may have leading zeros",
    ),
]

MISTAKES = {ORGANIZATION: ORGANIZATION_MISTAKES, PROVIDER: PROVIDER_MISTAKES}


def independent(mistakes: Iterable[Mistake], *, at_most: int) -> list[Mistake]:
    """The first mistakes of `mistakes`, up to `at_most`, that are independent of each other."""
    chosen: list[Mistake] = []
    for mistake in mistakes:
        if len(chosen) < at_most and all(mistake.independent_of(c) for c in chosen):
            chosen.append(mistake)
    return chosen


def with_mistakes(record: dict[str, Any], mistakes: Sequence[Mistake]) -> tuple[str, list[int]]:
    """The YAML text of `record` with `mistakes` made, and the line each one is reported at."""
    broken = copy.deepcopy(record)
    for mistake in mistakes:
        mistake.apply(broken)
    text = to_yaml(broken)
    return text, [mistake.line(text) for mistake in mistakes]
