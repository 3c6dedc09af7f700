"""The editor's view of a record file: yaml-language-server (the version `.ci/run` pins), given
`reconciler schema`, flags what `validate` flags, on the same lines. The other tests pin what
that server enforces of a JSON Schema, how it reads YAML 1.1 words and how it resolves a
`$schema=` modeline: the facts the schema and the README's advice rest on."""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from editor import Diagnostic, Editor, editor_unavailable, running_editor
from mistakes import BASES, FOLDERS, independent, to_yaml, with_mistakes
from mistakes import MISTAKES as CATALOG

from reconciler import reconcile
from reconciler.reconcile.workspace import Workspace

PROJECT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = "organization.schema.json"  # where the README has `reconciler schema` write it
ORGS = "orgs/*.yaml"  # the glob an editor's yaml.schemas maps the schema to

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
DRAFT_2019 = "https://json-schema.org/draft/2019-09/schema"
DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"
UNKNOWN_DRAFT = "https://json-schema.org/draft/2020-12/schema-typo"


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    """One server for the module: starting one costs more than all the files it checks."""
    if reason := editor_unavailable():
        pytest.skip(reason)
    with running_editor(tmp_path_factory.mktemp("workspace")) as running:
        yield running


def reconciler(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def generated_schema(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What `reconciler schema` prints."""
    printed = reconciler("schema", cwd=tmp_path_factory.mktemp("schema"))
    assert printed.returncode == 0, printed.stderr
    return printed.stdout


@pytest.fixture
def repo(tmp_path: Path, generated_schema: str) -> Path:
    """A record repository with the generated schema at its root, as the README has it."""
    (tmp_path / "orgs").mkdir()
    (tmp_path / SCHEMA_FILE).write_text(generated_schema, encoding="utf-8")
    return tmp_path


def write_schema(path: Path, schema: dict[str, Any]) -> Path:
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return path


def with_draft(schema: dict[str, Any], draft: str | None) -> dict[str, Any]:
    """`schema` declaring `draft` as its $schema (None: declaring none)."""
    return schema if draft is None else {"$schema": draft, **schema}


def lines(diagnostics: list[Diagnostic]) -> set[int]:
    return {d.line for d in diagnostics}


def commented_lines(text: str) -> set[int]:
    """The numbers of the lines of `text` that carry a comment (the ones meant to be flagged)."""
    return {number for number, line in enumerate(text.splitlines(), start=1) if "#" in line}


# -- the generated schema against validate ---------------------------------------------------

MISTAKES = """\
oid: 2.16.840.1.113883.3.6147.458.777.1
nmae: Northwind Test Clinic
active: maybe
type: Implementer
part_of: 2.16.840.1.113883.3.6147.458.2
contacts:
  - purpose: Technical
    name: Interop Team
    email_addresses: [interop@example.org]
    phone_number: {work: "+16085550100"}
address:
  city: 12
  colour: red
"""
# The mistakes' lines, and what the editor's message there names: `name` is missing (reported
# where the mapping starts), `nmae` and `colour` are unknown keys, `active` and `city` have
# values of the wrong type.
MISTAKE_LINES = {1: "name", 2: "nmae", 3: "", 12: "", 13: "colour"}


def test_editor_flags_what_validate_reports_on_the_same_lines(editor: Editor, repo: Path) -> None:
    org = repo / "orgs" / "mistakes.yaml"
    org.write_text(MISTAKES, encoding="utf-8")
    editor.configure(schemas={repo / SCHEMA_FILE: [ORGS]})

    flagged = editor.diagnostics(org, MISTAKES)
    validate = reconciler("validate", cwd=repo)

    assert validate.returncode == 1, validate.stdout + validate.stderr
    reported = re.findall(r"^orgs/mistakes\.yaml:(\d+): error", validate.stdout, re.MULTILINE)
    assert {int(line) for line in reported} == set(MISTAKE_LINES), validate.stdout
    assert lines(flagged) == set(MISTAKE_LINES), flagged
    for line, named in MISTAKE_LINES.items():
        assert any(named in d.message for d in flagged if d.line == line), (line, flagged)


def test_the_example_records_are_clean_in_the_editor(editor: Editor, repo: Path) -> None:
    editor.configure(schemas={repo / SCHEMA_FILE: [ORGS]})
    examples = {
        repo / "orgs" / example.name: example.read_text(encoding="utf-8")
        for example in (PROJECT / "orgs").glob("*.yaml")
    }

    flagged = editor.diagnostics_of(examples)

    assert {path.name: found for path, found in flagged.items() if found} == {}


# -- what the server enforces of a JSON Schema -------------------------------------------------

# One property per keyword the organization schema needs, nested the way pydantic nests them
# (a model in $defs, referenced from anyOf with null).
KEYWORDS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "oid": {"type": "string", "pattern": r"^[0-2](\.(0|[1-9][0-9]*))+$"},
        "type": {"enum": ["Implementer", "Connection"]},
        "email": {"type": "string", "format": "email"},
        "name": {"type": "string", "minLength": 1, "maxLength": 10},
        "county": {"type": "string", "minLength": 1, "maxLength": 10},
        "contacts": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
    },
    "$defs": {
        "Address": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"state": {"type": "string"}, "country": {"type": "string"}},
            "if": {"properties": {"country": {"const": "USA"}}, "required": ["country"]},
            "then": {"properties": {"state": {"pattern": "^[A-Z]{2}$"}}},
        }
    },
}
# Each commented line breaks the keyword its comment names; no other line breaks any.
KEYWORD_VIOLATIONS = """\
oid: 1.02.3                      # pattern
type: Gateway                    # enum
email: support@redoxengine       # format: email
name: Northwind Dubuque Clinic   # maxLength
county: ""                       # minLength
contacts: []                     # minItems
address:
  state: Wisconsin               # if country is USA then a pattern (in $defs)
  colour: red                    # additionalProperties: false (in $defs)
  country: USA
"""
KEYWORDS_KEPT = """\
oid: 2.16.840.1.113883.3.6147.458.2
type: Implementer
email: support@redoxengine.com
name: Northwind
county: Dane
contacts: [Technical]
address: {state: Wisconsin, country: Canada}
"""
DRAFTS = {"none": None, "draft-07": DRAFT_07, "2019-09": DRAFT_2019, "2020-12": DRAFT_2020}


def test_every_draft_enforces_the_keywords_the_schema_needs(editor: Editor, tmp_path: Path) -> None:
    schemas = {
        write_schema(tmp_path / f"{name}.json", with_draft(KEYWORDS, draft)): [f"{name}/*.yaml"]
        for name, draft in DRAFTS.items()
    }
    editor.configure(schemas=schemas)
    broken = {tmp_path / name / "broken.yaml": KEYWORD_VIOLATIONS for name in DRAFTS}
    kept = {tmp_path / name / "kept.yaml": KEYWORDS_KEPT for name in DRAFTS}

    flagged = editor.diagnostics_of(broken | kept)

    violations = commented_lines(KEYWORD_VIOLATIONS)
    assert {path.parent.name: lines(flagged[path]) for path in broken} == {
        name: violations for name in DRAFTS
    }
    assert {path.parent.name: flagged[path] for path in kept} == {name: [] for name in DRAFTS}


# Keywords whose meaning differs by draft, one per line.
DRAFT_DEPENDENT = {
    "type": "object",
    "properties": {
        "name": {"$ref": "#/$defs/Text", "maxLength": 3},  # a constraint beside $ref
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "card": {"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False},
        "dep": {"type": "object", "dependentRequired": {"a": ["b"]}},
    },
    "$defs": {"Text": {"type": "string"}},
}
DRAFT_DEPENDENT_TEXT = "name: toolong\npair: [1, x]\ncard: {a: 1, b: 2}\ndep: {a: 1}\n"
SIBLING, PREFIX_ITEMS, UNEVALUATED, DEPENDENT_REQUIRED = 1, 2, 3, 4


def test_the_declared_draft_decides_the_draft_specific_keywords(
    editor: Editor, tmp_path: Path
) -> None:
    drafts = DRAFTS | {"unknown": UNKNOWN_DRAFT}
    schemas = {
        write_schema(tmp_path / f"{name}.json", with_draft(DRAFT_DEPENDENT, draft)): [
            f"{name}/*.yaml"
        ]
        for name, draft in drafts.items()
    }
    editor.configure(schemas=schemas)

    flagged = editor.diagnostics_of(
        {tmp_path / name / "a.yaml": DRAFT_DEPENDENT_TEXT for name in drafts}
    )

    assert {path.parent.name: lines(found) for path, found in flagged.items()} == {
        # No $schema, or one the server does not know: draft-07 keywords, $ref siblings apply.
        "none": {SIBLING},
        "unknown": {SIBLING},
        # draft-07 as written: a keyword beside $ref is ignored.
        "draft-07": set(),
        "2019-09": {SIBLING, UNEVALUATED, DEPENDENT_REQUIRED},
        "2020-12": {SIBLING, PREFIX_ITEMS, UNEVALUATED, DEPENDENT_REQUIRED},
    }


def test_a_pattern_javascript_cannot_compile_flags_every_value(
    editor: Editor, tmp_path: Path
) -> None:
    # Patterns run as JavaScript regular expressions: Python-only syntax never matches.
    pattern = "^(?P<arc>[0-2])"
    schema = {"type": "object", "properties": {"oid": {"type": "string", "pattern": pattern}}}
    editor.configure(schemas={write_schema(tmp_path / "schema.json", schema): [ORGS]})

    flagged = editor.diagnostics(tmp_path / "orgs" / "a.yaml", "oid: '2.16'\n")

    assert [d.message for d in flagged] == [f'Invalid pattern: "{pattern}"']


# -- YAML 1.1 words ----------------------------------------------------------------------------

WORDS = ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"]
WORDS_TEXT = "".join(f"k{i}: {word}\n" for i, word in enumerate(WORDS))
EVERY_WORD = set(range(1, len(WORDS) + 1))


@pytest.mark.parametrize(
    ("yaml_version", "flagged_as_boolean", "flagged_as_text"),
    [
        # The default, YAML 1.2: the words are text, so a boolean field flags them (as validate
        # does) and a text field accepts them (validate does not: PyYAML reads most as booleans).
        (None, EVERY_WORD, set()),
        ("1.2", EVERY_WORD, set()),
        # YAML 1.1: the words are booleans, so a boolean field accepts them.
        ("1.1", set(), EVERY_WORD),
    ],
)
def test_yaml_1_1_words_depend_on_the_yaml_version(
    editor: Editor,
    tmp_path: Path,
    yaml_version: str | None,
    flagged_as_boolean: set[int],
    flagged_as_text: set[int],
) -> None:
    booleans = write_schema(tmp_path / "b.json", {"additionalProperties": {"type": "boolean"}})
    texts = write_schema(tmp_path / "t.json", {"additionalProperties": {"type": "string"}})
    editor.configure(
        schemas={booleans: ["booleans/*.yaml"], texts: ["texts/*.yaml"]}, yaml_version=yaml_version
    )
    as_boolean, as_text = tmp_path / "booleans" / "a.yaml", tmp_path / "texts" / "a.yaml"

    flagged = editor.diagnostics_of({as_boolean: WORDS_TEXT, as_text: WORDS_TEXT})

    assert lines(flagged[as_boolean]) == flagged_as_boolean, flagged[as_boolean]
    assert lines(flagged[as_text]) == flagged_as_text, flagged[as_text]


# -- the modeline --------------------------------------------------------------------------------


def readme_modeline() -> tuple[str, str]:
    """The modeline the README gives and the file its `reconciler schema >` writes."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    modeline = re.search(r"`(# yaml-language-server: \$schema=\S+)`", readme)
    target = re.search(r"`reconciler schema > (\S+)`", readme)
    assert modeline, "the README gives no modeline"
    assert target, "the README does not say where the schema goes"
    return modeline.group(1), target.group(1)


def test_the_readme_modeline_loads_the_schema_in_orgs(editor: Editor, repo: Path) -> None:
    modeline, target = readme_modeline()
    assert target == SCHEMA_FILE
    editor.configure()  # no yaml.schemas: only the modeline names the schema

    flagged = editor.diagnostics(repo / "orgs" / "a.yaml", f"{modeline}\n{MISTAKES}")

    # The modeline takes the first line, so every mistake sits one line lower.
    assert lines(flagged) == {line + 1 for line in MISTAKE_LINES}, flagged


def test_a_modeline_path_is_relative_to_the_yaml_file(editor: Editor, repo: Path) -> None:
    root = repo.resolve()
    references = {
        "../organization.schema.json": "loads",
        # Relative to the folder of the YAML file, not to the workspace or the repository root:
        "./organization.schema.json": "not found",
        "organization.schema.json": "not found",
        # An absolute path or a file: URI work from anywhere (but tie a file to one machine).
        f"{root}/organization.schema.json": "loads",
        f"{root.as_uri()}/organization.schema.json": "loads",
    }
    editor.configure()
    files = {
        reference: repo / "orgs" / f"{number}.yaml" for number, reference in enumerate(references)
    }

    flagged = editor.diagnostics_of(
        {path: f"# yaml-language-server: $schema={ref}\n{MISTAKES}" for ref, path in files.items()}
    )

    mistakes = {line + 1 for line in MISTAKE_LINES}
    not_found = f"Unable to load schema from '{root}/orgs/organization.schema.json': No content."
    outcome = {
        reference: "loads"
        if lines(flagged[path]) == mistakes
        else "not found"
        if [d.message for d in flagged[path]] == [not_found]
        else flagged[path]
        for reference, path in files.items()
    }
    assert outcome == references


# -- every rule of validate, seen in the editor ----------------------------------------------------

PROVIDER_SCHEMA_FILE = "provider.schema.json"
PROVIDERS = "providers/*.yaml"
EDITOR_SEES = [m for ms in CATALOG.values() for m in ms if m.editor]
YAML_1_1_CLASS = [m for ms in CATALOG.values() for m in ms if not m.editor]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[str]]:
    """Both generated schemas, mapped to their folders as an editor's yaml.schemas maps them."""
    folder = tmp_path_factory.mktemp("schemas")
    mapping: dict[Path, list[str]] = {}
    for kind, name, glob in (
        ("organization", SCHEMA_FILE, ORGS),
        ("provider", PROVIDER_SCHEMA_FILE, PROVIDERS),
    ):
        printed = reconciler("schema", "--kind", kind, cwd=folder)
        assert printed.returncode == 0, printed.stderr
        (folder / name).write_text(printed.stdout, encoding="utf-8")
        mapping[folder / name] = [glob]
    return mapping


def validate_lines(kind: str, text: str, root: Path) -> set[int]:
    """The lines validate reports errors at, for one file of `kind` alone in a repository."""
    folder = root / FOLDERS[kind]
    folder.mkdir(parents=True)
    (folder / "record.yaml").write_text(text, encoding="utf-8")
    found = reconcile.validate(Workspace(repo=root, env_name="sandbox"))
    return {p.line for p in found.problems if p.severity == "error"}


def test_the_base_records_are_clean_in_the_editor(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    editor.configure(schemas=schemas)
    files = {tmp_path / FOLDERS[kind] / "base.yaml": to_yaml(base) for kind, base in BASES.items()}

    assert editor.diagnostics_of(files) == {path: [] for path in files}


def test_a_connection_without_contacts_is_clean_in_the_editor(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    # The contact rule is the Implementer's: a Connection, its type written either way, needs
    # none, as validate says; the same record as an Implementer is flagged where validate is.
    editor.configure(schemas=schemas)
    files: dict[Path, str] = {}
    for kind in ("Connection", "Implementer"):
        for number, written in enumerate([kind, {"system": "urn:cq", "value": kind}]):
            record = copy.deepcopy(BASES["organization"])
            record["type"] = written
            del record["contacts"]
            files[tmp_path / kind / "orgs" / f"{number}.yaml"] = to_yaml(record)
    validated = {
        path: validate_lines(
            "organization", text, tmp_path / "validate" / path.parent.parent.name / path.name
        )
        for path, text in files.items()
    }

    flagged = editor.diagnostics_of(files)

    assert {path: lines(found) for path, found in flagged.items()} == validated
    assert {path.parent.parent.name: bool(lines) for path, lines in validated.items()} == {
        "Connection": False,
        "Implementer": True,
    }


def test_the_editor_flags_every_mistake_validate_reports_on_its_line(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    editor.configure(schemas=schemas)
    files: dict[Path, str] = {}
    expected: dict[Path, tuple[str, set[int]]] = {}
    for number, mistake in enumerate(EDITOR_SEES):
        text, at = with_mistakes(BASES[mistake.kind], [mistake])
        path = tmp_path / "editor" / FOLDERS[mistake.kind] / f"{number}.yaml"
        files[path] = text
        reported = validate_lines(mistake.kind, text, tmp_path / "validate" / str(number))
        assert reported == set(at), mistake.name
        expected[path] = (mistake.name, reported)

    flagged = editor.diagnostics_of(files)

    wrong = {
        name: (want, flagged[path])
        for path, (name, want) in expected.items()
        if lines(flagged[path]) != want
    }
    assert wrong == {}
    seen = {name for name, _want in expected.values()}
    acceptance = {
        "OID syntax: second arc over 39",
        "phone with dashes",
        "email",
        "ZIP too short",
        "ZIP unquoted",
        "state a name",
        "type missing",
        "type unknown",
    }
    assert acceptance <= seen


def test_random_sets_of_mistakes_are_flagged_where_validate_reports_them(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    editor.configure(schemas=schemas)
    rng = random.Random(20260416)
    files: dict[Path, str] = {}
    expected: dict[Path, set[int]] = {}
    for number in range(40):
        kind = rng.choice(sorted(CATALOG))
        order = [m for m in CATALOG[kind] if m.editor]
        rng.shuffle(order)
        chosen = independent(order, at_most=rng.randint(1, 5))
        text, _lines = with_mistakes(BASES[kind], chosen)
        path = tmp_path / "editor" / FOLDERS[kind] / f"{number}.yaml"
        files[path] = text
        expected[path] = validate_lines(kind, text, tmp_path / "validate" / str(number))

    flagged = editor.diagnostics_of(files)

    assert {p: lines(found) for p, found in flagged.items()} == expected


def test_yaml_1_1_scalars_in_text_fields_are_the_one_class_the_editor_cannot_see(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    # An unquoted yes, 12:30 or 17:00 in a text field is text to a YAML 1.2 editor, and a
    # schema cannot see quoting: validate reports it (PyYAML reads a boolean or a number), the
    # editor does not. The README says so.
    editor.configure(schemas=schemas)
    files = {}
    for number, mistake in enumerate(YAML_1_1_CLASS):
        text, reported = with_mistakes(BASES[mistake.kind], [mistake])
        assert validate_lines(mistake.kind, text, tmp_path / str(number)) == set(reported)
        files[tmp_path / "editor" / FOLDERS[mistake.kind] / f"{number}.yaml"] = text

    flagged = editor.diagnostics_of(files)

    assert YAML_1_1_CLASS
    assert all(found == [] for found in flagged.values()), flagged


EMAILS = [
    "a@b.co",
    "first.last+tag@sub.example.org",
    '"quoted local"@example.org',
    "user@[192.168.0.1]",
    "a@b",
    "a@b.c",
    "a b@c.org",
    "a..b@c.org",
    ".a@c.org",
    "a.@c.org",
    "a@-b.org",
    "a@b_c.org",
    "ü@example.org",
    "a@exämple.org",
    "a@@c.org",
    "a(b)@c.org",
]


def test_the_editor_and_validate_read_emails_alike(
    editor: Editor, tmp_path: Path, schemas: dict[Path, list[str]]
) -> None:
    editor.configure(schemas=schemas)
    files = {}
    verdicts = {}
    for number, email in enumerate(EMAILS):
        record = copy.deepcopy(BASES["organization"])
        record["contacts"][0]["email_addresses"] = [email]
        text = to_yaml(record)
        files[tmp_path / "editor" / "orgs" / f"{number}.yaml"] = text
        verdicts[email] = bool(validate_lines("organization", text, tmp_path / str(number)))

    flagged = editor.diagnostics_of(files)

    assert {email: bool(flagged[path]) for email, path in zip(EMAILS, files, strict=True)} == (
        verdicts
    )
    assert set(verdicts.values()) == {True, False}
