"""Loading files into records: every problem of every file at once, each on its own line."""

from __future__ import annotations

from typing import Any

import pytest
from factories import GATEWAY, OMIT, Repo, organization

from reconciler.errors import LoadError, Problem
from reconciler.records.loader import load_records
from reconciler.records.settings import load_settings

FIVE_MISTAKES = """\
oid: 2.16.840.1.113883.3.6147.458.777.01
# the name is missing
part_of: 2.16.840.1.113883.3.6147.458.999
type: Implementer
colour: blue
contacts:
  - name: Interop Team
    phone_number:
      work: "608-555-0100"
"""


def load_problems(made: Repo) -> list[Problem]:
    """Every problem of the repository (LoadError expected)."""
    with pytest.raises(LoadError) as caught:
        load_records(made.root, load_settings(made.root).environment("sandbox"))
    return caught.value.problems


def lines_and_messages(found: list[Problem]) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.message) for p in found]


def test_five_mistakes_give_five_messages_on_their_lines(repo: Any) -> None:
    made = repo({"clinic": FIVE_MISTAKES})
    found = load_problems(made)
    assert [(p.line, p.message.split(":")[0].split(" is ")[0]) for p in found] == [
        (1, "missing required key 'name'"),
        (1, "oid"),
        (3, "part_of 2.16.840.1.113883.3.6147.458.999"),
        (5, "unknown key 'colour'"),
        (9, "contacts[0].phone_number.work"),
    ]
    assert {p.file for p in found} == {"orgs/clinic.yaml"}
    assert "leading zeros" in found[1].message
    assert "is neither the Redox gateway" in found[2].message
    assert "E.164" in found[4].message


def test_five_mistakes_through_validate(repo: Any, run_cli: Any) -> None:
    made = repo({"clinic": FIVE_MISTAKES})
    result = run_cli("validate", repo=made)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": error: ")[0] for line in lines[:-1]] == [
        "orgs/clinic.yaml:1",
        "orgs/clinic.yaml:1",
        "orgs/clinic.yaml:3",
        "orgs/clinic.yaml:5",
        "orgs/clinic.yaml:9",
    ]
    assert lines[-1] == "5 problems in 1 file: nothing was planned or applied."


def test_problems_of_every_file_are_reported_together(repo: Any) -> None:
    made = repo(
        {"a": organization(1, name=OMIT), "b": organization(2, oid="1.40"), "c": organization(3)}
    )
    found = load_problems(made)
    assert [(p.file, p.line) for p in found] == [("orgs/a.yaml", 1), ("orgs/b.yaml", 1)]


BROKEN_FILES = [
    pytest.param(
        b"oid: 1.2\nname: [unclosed\npart_of: 1.3\n", 3, "is not valid YAML", id="unclosed-flow"
    ),
    pytest.param(b"oid: 1.2\n  name: x\n", 2, "is not valid YAML", id="bad-indent"),
    pytest.param(b"oid: 1.2\n\tname: x\n", 2, "is not valid YAML", id="tab"),
    pytest.param(b'name: "open\n', 2, "is not valid YAML", id="open-quote"),
    pytest.param(b"", 1, "the file is empty", id="empty"),
    pytest.param(b"# only a comment\n\n", 1, "the file is empty", id="comment-only"),
    pytest.param(b"- a\n- b\n", 1, "the file holds a list, not a record", id="list"),
    pytest.param(b"just text\n", 1, "the file holds the value 'just text'", id="scalar"),
    pytest.param(
        b"oid: 1.2.3\nname: x\nname: y\n", 3, "has the key 'name' twice (lines 2 and 3)", id="dup"
    ),
    pytest.param(b"oid: 1.2.3\nname: caf\xe9\n", 2, "is not UTF-8 (byte 0xe9)", id="latin-1"),
    pytest.param(
        b"oid: 1.2.3\nname: !!python/object:os.system x\n",
        2,
        "uses the YAML tag !!python/object:os.system",
        id="python-tag",
    ),
    pytest.param(
        b"oid: 1.2.3\nname: !!python/object/apply:os.system [echo hi]\n",
        2,
        "uses the YAML tag !!python/object/apply:os.system",
        id="python-apply",
    ),
    pytest.param(b"oid: 1.2.3\nname: !custom x\n", 2, "uses the YAML tag !custom", id="tag"),
    pytest.param(
        b"oid: 1.2.3\nname: x\n---\noid: 1.2.4\n",
        3,
        "holds more than one YAML document (---)",
        id="two-documents",
    ),
    pytest.param(
        b"base: &b\n  city: X\noid: 1.2.3\nname: x\naddress:\n  <<: *b\n",
        6,
        "uses a merge key (<<)",
        id="merge-key",
    ),
    pytest.param(b"oid: 1.2.3\n1: x\n", 2, "has the key 1: keys must be plain names", id="int-key"),
]


@pytest.mark.parametrize(("content", "line", "message"), BROKEN_FILES)
def test_broken_files_give_one_clear_line(
    repo: Any, run_cli: Any, content: bytes, line: int, message: str
) -> None:
    made = repo({"good": organization(1)})
    made.org("broken", content)
    result = run_cli("validate", repo=made)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    first, summary = result.stdout.splitlines()
    assert first.startswith(f"orgs/broken.yaml:{line}: error: ")
    assert message in first
    assert summary == "1 problem in 1 file: nothing was planned or applied."


def test_broken_yaml_never_runs_code(repo: Any, tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    made = repo({"a": f"oid: 1.2.3\nname: !!python/object/apply:os.system ['touch {marker}']\n"})
    load_problems(made)
    assert not marker.exists()


def test_bom_is_accepted(repo: Any) -> None:
    text = f"oid: 1.2.3\nname: x\npart_of: {GATEWAY}\ntype: Connection\n"
    made = repo({"a": b"\xef\xbb\xbf" + text.encode()})
    settings = load_settings(made.root)
    assert len(load_records(made.root, settings.environment("sandbox")).desired) == 1


@pytest.mark.parametrize(
    ("text", "key", "quoted"),
    [
        ("name: 12345", "name", '"12345"'),
        ("name: 1.50", "name", '"1.50"'),
        ("name: true", "name", '"true"'),
        ("name: 0x1F", "name", '"0x1F"'),
        ("aliases: [NWH, 01234]", "aliases[1]", '"01234"'),
    ],
)
def test_a_number_where_text_is_expected_says_to_quote_it(
    repo: Any, text: str, key: str, quoted: str
) -> None:
    base = f"oid: 1.2.3\npart_of: {GATEWAY}\ntype: Connection\n"
    if not text.startswith("name"):
        base += "name: x\n"
    made = repo({"a": base + text + "\n"})
    (found,) = load_problems(made)
    assert found.message.startswith(f"{key}: expected text, got ")
    assert f"put it in quotes ({quoted})" in found.message
    assert found.line == (4 if text.startswith("name") else 5)


def test_zip_with_leading_zero_says_to_quote_it_as_written(repo: Any) -> None:
    data = organization()
    text = repo().org("x", data).read_text().replace("zip: '53703'", "zip: 01234")
    made = repo({"a": text})
    (found,) = load_problems(made)
    assert found.message.startswith("address.zip: expected text")
    assert 'put it in quotes ("01234")' in found.message


def test_type_mistake_is_one_message(repo: Any) -> None:
    made = repo({"a": organization(type="implementer")})
    (found,) = load_problems(made)
    assert (
        found.message == "type: 'implementer' is not allowed: write 'Implementer' or 'Connection'"
    )


def test_type_mapping_mistake_names_the_key(repo: Any) -> None:
    made = repo({"a": organization(type={"value": "Connection", "sytem": "x"})})
    (found,) = load_problems(made)
    assert found.message == "unknown key 'sytem': did you mean 'system'? (in type)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, 'destination_id: expected text, got a whole number 5: put it in quotes ("5")'),
        (
            {"development": 5},
            'destination_id.development: expected text, got a whole number 5: put it in quotes ("5")',  # noqa: E501
        ),
        (
            ["a"],
            "destination_id: expected text, a mapping of keys or null, got list ['a']",
        ),
    ],
)
def test_destination_id_mistake_is_one_message(repo: Any, value: Any, message: str) -> None:
    made = repo({"a": organization(destination_id=value)})
    (found,) = load_problems(made)
    assert found.message == message


def test_redox_spelling_of_a_key_suggests_the_snake_case_one(repo: Any) -> None:
    made = repo({"a": organization(endpoints=[{"name": "XCA", "MIMEType": "text/xml"}])})
    (found,) = load_problems(made)
    assert found.message == ("unknown key 'MIMEType': did you mean 'mime_type'? (in endpoints[0])")


# --- rules across records ---------------------------------------------------------------------


def test_duplicate_oids_across_files(repo: Any) -> None:
    made = repo(
        {
            "a": organization(1),
            "b": "# a comment first\n" + repo().org("x", organization(1)).read_text(),
        }
    )
    (found,) = load_problems(made)
    assert (found.file, found.line) == ("orgs/b.yaml", 2)
    assert found.message == (
        f"OID {organization(1)['oid']} is already used by orgs/a.yaml (line 1): every record needs "
        "its own OID"
    )


def test_part_of_cycles_are_reported_on_every_member(repo: Any) -> None:
    a, b, c = (organization(n) for n in (1, 2, 3))
    a["part_of"], b["part_of"], c["part_of"] = b["oid"], c["oid"], a["oid"]
    made = repo({"a": a, "b": b, "c": c, "d": organization(4)})
    found = load_problems(made)
    assert [p.file for p in found] == ["orgs/a.yaml", "orgs/b.yaml", "orgs/c.yaml"]
    assert all("part_of makes a cycle" in p.message for p in found)
    assert all(p.line == 5 for p in found)  # the part_of line of organization's layout


def test_self_parent_is_an_error(repo: Any) -> None:
    data = organization(1)
    data["part_of"] = data["oid"]
    (found, *_rest) = load_problems(repo({"a": data}))
    assert "cannot be part of itself" in found.message


def test_active_child_under_inactive_parent(repo: Any) -> None:
    parent = organization(1, active=False)
    child = organization(2, parent=parent["oid"])
    made = repo(
        {
            "parent": parent,
            "child": child,
            "quiet": organization(3, parent=parent["oid"], active=False),
        }
    )
    (found,) = load_problems(made)
    assert (found.file, found.line) == ("orgs/child.yaml", 3)
    assert "is active but its parent" in found.message
    assert "orgs/parent.yaml" in found.message


def test_active_by_default_child_under_inactive_parent_points_at_part_of(repo: Any) -> None:
    parent = organization(1, active=False)
    child = organization(2, parent=parent["oid"], active=OMIT)
    made = repo({"parent": parent, "child": child})
    (found,) = load_problems(made)
    assert (found.file, found.line) == ("orgs/child.yaml", 4)


def test_unknown_parent_unless_listed_as_external(repo: Any) -> None:
    outside = "2.16.840.1.113883.3.6147.458.999"
    made = repo({"a": organization(1, part_of=outside)})
    (found,) = load_problems(made)
    assert found.message.startswith(f"part_of {outside} is neither the Redox gateway")
    made.settings({"external_parents": [outside]})
    settings = load_settings(made.root)
    assert len(load_records(made.root, settings.environment("sandbox")).desired) == 1


def test_self_responding_gateway_is_a_valid_parent(repo: Any) -> None:
    made = repo({"a": organization(1, part_of="2.16.840.1.113883.3.6147.458.3")})
    assert (
        len(load_records(made.root, load_settings(made.root).environment("sandbox")).desired) == 1
    )


def test_cross_record_checks_run_on_invalid_records_too(repo: Any) -> None:
    broken = organization(1, name=OMIT)
    made = repo({"a": broken, "b": organization(1)})
    found = load_problems(made)
    assert [(p.file, p.message.split(" ")[0]) for p in found] == [
        ("orgs/a.yaml", "missing"),
        ("orgs/b.yaml", "OID"),
    ]


def test_subfolders_and_yml_are_read_hidden_and_other_files_are_not(repo: Any) -> None:
    made = repo({"a": organization(1)})
    made.write("orgs/wisconsin/b.yml", organization(2))
    made.write("orgs/wisconsin/deeper/c.yaml", organization(3))
    for ignored in (
        "orgs/.hidden.yaml",
        "orgs/.drafts/d.yaml",
        "orgs/notes.txt",
        "orgs/e.YAML.bak",
    ):
        made.write(ignored, "not: [valid\n")
    desired = load_records(made.root, load_settings(made.root).environment("sandbox")).desired
    assert sorted(d.file for d in desired.values()) == [
        "orgs/a.yaml",
        "orgs/wisconsin/b.yml",
        "orgs/wisconsin/deeper/c.yaml",
    ]


def test_a_repository_without_orgs_has_no_records(repo: Any) -> None:
    made = repo()
    assert load_records(made.root, load_settings(made.root).environment("sandbox")).desired == {}
