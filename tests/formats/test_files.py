"""The limits of reading, one by one and at their boundaries (in-process, fast): YAML aliases,
depth and numbers; JSON read back strictly; quoted values cut short; the ledger's and the saved
plan's checks; the sandbox journal; the catch-all's report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from reconciler.cli.base import BUG, ReconcilerGroup
from reconciler.errors import LedgerError, PlanError, Problem, ReconcilerError, quoted
from reconciler.formats import jsonfile, yamlfile
from reconciler.ledger import file as ledger_file
from reconciler.plan.build import dependency_cycle
from reconciler.plan.saved import plan_from_document
from reconciler.sandbox.store import Store


def _nested_yaml(depth: int) -> str:
    return "a: " + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "\n"


def _problem(text: str) -> yamlfile.YamlProblem:
    with pytest.raises(yamlfile.YamlProblem) as caught:
        yamlfile.parse(text)
    return caught.value


def test_an_alias_is_refused_on_its_own_line_and_an_anchor_alone_is_fine() -> None:
    assert _problem("a: &x [1]\nb: 2\nc: *x\n").line == 3
    assert "alias *x" in _problem("a: &x [1]\nb: 2\nc: *x\n").message
    assert yamlfile.parse("a: &x [1]\nb: '*not an alias'\n")[0] == {"a": [1], "b": "*not an alias"}
    assert "merge key" in _problem("a: &x {b: 1}\n<<: *x\n").message


def test_nesting_stops_at_the_limit() -> None:
    depth = yamlfile.MAX_DEPTH
    assert yamlfile.parse(_nested_yaml(depth))[0]["a"] is not None
    assert "more than 32 levels" in _problem(_nested_yaml(depth + 1)).message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
        ("1.5e+300", 1.5e300),
    ],
)
def test_numbers_within_64_bits_are_read(text: str, value: Any) -> None:
    assert yamlfile.parse(f"num: {text}\n")[0] == {"num": value}


@pytest.mark.parametrize(
    "text",
    ["18446744073709551616", "-9223372036854775809", "1" + "0" * 40, "1.5e+400", ".inf", ".NaN"],
)
def test_numbers_beyond_64_bits_must_be_quoted(text: str) -> None:
    problem = _problem(f"a: 1\nnum: {text}\n")
    assert problem.line == 2
    assert "put it in quotes" in problem.message
    assert len(problem.message) < 200


def test_a_quoted_value_is_cut_short_and_says_how_long_it_was() -> None:
    assert quoted("short") == "'short'"
    long = quoted("x" * 5000)
    assert len(long) < 120
    assert "(5,000 characters)" in long
    assert quoted(10**6000).startswith("<a number of about 600")
    assert len(quoted([[[[[["deep" * 1000]]]]]])) < 100
    assert len(Problem("f", 1, "m" * 10_000).message) < 1100


def test_json_read_back_is_bounded() -> None:
    ok = json.dumps({"a": [[[1]]], "n": 2**64 - 1, "f": 1.5, "s": "\ud83d\ude00"})
    assert jsonfile.loads(ok)["n"] == 2**64 - 1
    deep = "[" * jsonfile.MAX_DEPTH + "]" * jsonfile.MAX_DEPTH
    assert jsonfile.loads(deep) == jsonfile.loads(deep)
    for bad, says in [
        ("[" * (jsonfile.MAX_DEPTH + 1) + "]" * (jsonfile.MAX_DEPTH + 1), "levels deep"),
        ("[" * 5000 + "]" * 5000, "levels deep"),
        ('{"n": 18446744073709551616}', "beyond 64 bits"),
        ("[" + "9" * 5000 + "]", "beyond 64 bits"),
        ('{"a": NaN}', "NaN"),
        ('{"a": 1e999}', "not finite"),
        ('{"a": "\\udc00"}', "lone surrogate"),
        (b"\xff", "not UTF-8"),
        ("{", "not JSON"),
    ]:
        with pytest.raises(jsonfile.JsonProblem, match=says):
            jsonfile.loads(bad)


def test_the_path_of_a_deep_value_is_named() -> None:
    with pytest.raises(jsonfile.JsonProblem) as caught:
        jsonfile.loads(
            json.dumps({"records": {"k:1": {"payload": {"x": "y"}}}}).replace(
                '"y"', "[" * 40 + "]" * 40
            )
        )
    assert caught.value.where.startswith("records['k:1'].payload.x")


def _ledger(records: Any, intents: Any = None) -> bytes:
    return json.dumps(
        {
            "version": 1,
            "environment": "sandbox",
            "lineage": "x",
            "serial": 1,
            "records": records,
            "intents": intents or {},
        }
    ).encode()


def _entry(kind: str = "organization", identity: str = "1.2") -> dict[str, Any]:
    return {
        "kind": kind,
        "identity": identity,
        "envelope": {},
        "payload": {"Name": "x"},
        "digest": "d",
        "applied_at": "2026-01-01T00:00:00Z",
        "status": "active",
    }


@pytest.mark.parametrize(
    ("records", "intents", "says"),
    [
        ({"organization:1.2": "text"}, None, "records['organization:1.2']"),
        ({"organization:1.2": [1]}, None, "records['organization:1.2']"),
        ({"spaceship:1.2": _entry("spaceship")}, None, "unknown record kind 'spaceship'"),
        ({"organization:9.9": _entry()}, None, "the key does not match"),
        ({}, {"organization:1.2": {**_entry(), "action": "destroy"}}, "not an action"),
        ([], None, "records"),
    ],
)
def test_a_hand_edited_ledger_is_named_at_the_place_it_went_wrong(
    tmp_path: Path, records: Any, intents: Any, says: str
) -> None:
    path = tmp_path / "ledger.json"
    if intents:
        for intent in intents.values():
            for key in ("digest", "applied_at", "status"):
                intent.pop(key)
            intent["started_at"] = "2026-01-01T00:00:00Z"
    path.write_bytes(_ledger(records, intents))
    with pytest.raises(LedgerError) as caught:
        ledger_file.load(path, "sandbox", shown="ledger/x.json")
    message = str(caught.value)
    assert message.startswith("the ledger ledger/x.json is corrupt")
    assert says in message
    assert "git checkout -- ledger/x.json" in message


def test_a_sound_ledger_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_bytes(_ledger({"organization:1.2": _entry()}))
    assert list(ledger_file.load(path, "sandbox").records) == ["organization:1.2"]


def test_a_dependency_cycle_is_found_without_recursion() -> None:
    chain = {f"k:{i}": [f"k:{i + 1}"] for i in range(100_000)}
    assert dependency_cycle(chain) is None
    chain["k:100000"] = ["k:0"]
    assert dependency_cycle(chain) is not None
    assert dependency_cycle({"a": ["a"]}) == ["a", "a"]
    assert dependency_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert dependency_cycle({"a": ["outside"]}) is None


def test_a_saved_plan_names_its_file() -> None:
    with pytest.raises(PlanError, match=r"the saved plan plans/x\.json has format version"):
        plan_from_document({"changes": []}, name="plans/x.json")
    with pytest.raises(PlanError, match=r"plans/x.json is damaged at changes\[0\]"):
        plan_from_document(
            {
                "format_version": 1,
                "environment": "e",
                "lineage": "",
                "serial": 0,
                "desired_digest": "d",
                "changes": [{"kind": 1}],
            },
            name="plans/x.json",
        )


@pytest.mark.parametrize(
    "line",
    [
        b'{"kind": "organization.create", "identity": "1.2", "record": "text"}',
        b'{"kind": "spaceship.create", "identity": "1.2", "record": {}}',
        b'{"kind": "organization.create", "identity": "1.2", "record": {"a": NaN}}',
        b'{"kind": "organization.create", "identity": "1.2", "record": '
        + b"[" * 100
        + b"]" * 100
        + b"}",
        b"[1, 2]",
    ],
)
def test_a_damaged_journal_line_stops_the_sandbox_naming_it(tmp_path: Path, line: bytes) -> None:
    good = b'{"kind": "organization.create", "identity": "1.2", "record": {"Name": "x"}}'
    (tmp_path / "directory.jsonl").write_bytes(good + b"\n" + line + b"\n")
    with pytest.raises(ReconcilerError, match=r"directory.jsonl, line 2, is damaged"):
        Store(tmp_path)


def test_the_catch_all_reports_a_bug_in_one_paragraph() -> None:
    @click.group(cls=ReconcilerGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise RecursionError("maximum recursion depth exceeded " + "x" * 5000)

    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert BUG in result.stderr
    assert "`reconciler boom` failed unexpectedly (RecursionError" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr) < 600
    assert result.stderr.count("\n") == 1
