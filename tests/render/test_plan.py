"""Renderings of plans and problems: text, markdown, JSON and GitHub annotations.

The text and markdown renderings of a fixed small plan are kept as golden files in
tests/golden/. After an intended change to the output, regenerate them with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_plan.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from factories import GATEWAY, PARENT, big_create_plan, facility_payload
from golden import check_golden

from reconciler.errors import Problem
from reconciler.formats.jsontext import pack
from reconciler.model import Action, Desired
from reconciler.plan import Change, FieldChange, Plan
from reconciler.render import (
    MARKDOWN_LIMIT,
    plan_document,
    problems_document,
    render_github,
    render_json,
    render_json_chunks,
    render_markdown,
    render_problems,
    render_text,
)
from reconciler.views.graph import Graph, build_graph

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY = "Plan: 1 to create, 1 to update, 1 to deactivate, 1 to reactivate."


def small_plan() -> Plan:
    """One change of each action, with the details each rendering shows."""
    envelope = {"Directory": "Carequality"}
    clinic = f"{PARENT}.1"
    return Plan(
        environment="development",
        lineage="00000000-0000-4000-8000-000000000000",
        serial=7,
        desired_digest="d" * 64,
        changes=(
            Change(
                kind="organization",
                identity=clinic,
                action=Action.CREATE,
                envelope=envelope,
                before=None,
                packed_after=pack(facility_payload(clinic, "Northwind Madison East | Clinic")),
                source="orgs/madison-east.yaml",
                depends_on=(),
            ),
            Change(
                kind="organization",
                identity=f"{PARENT}.2",
                action=Action.UPDATE,
                envelope=envelope,
                before=facility_payload(f"{PARENT}.2", "Rockford"),
                packed_after=pack(facility_payload(f"{PARENT}.2", "Rockford", city="Loves Park")),
                fields=(
                    FieldChange("Address.City", before="Rockford", after="Loves Park"),
                    FieldChange("Aliases", after=["RFM"], added=True),
                    FieldChange("DestinationID", before="abc", removed=True),
                ),
                source="orgs/rockford.yaml",
            ),
            Change(
                kind="organization",
                identity=f"{PARENT}.4",
                action=Action.DEACTIVATE,
                envelope=envelope,
                before=facility_payload(f"{PARENT}.4", "Dubuque"),
                packed_after=pack(facility_payload(f"{PARENT}.4", "Dubuque", active=False)),
                fields=(FieldChange("Active", before=True, after=False),),
                source="orgs/dubuque.yaml",
            ),
            Change(
                kind="organization",
                identity=f"{PARENT}.3",
                action=Action.REACTIVATE,
                envelope=envelope,
                before=facility_payload(f"{PARENT}.3", "Rochester", active=False),
                packed_after=pack(facility_payload(f"{PARENT}.3", "Rochester")),
                fields=(FieldChange("Active", before=False, after=True),),
                source="orgs/rochester.yaml",
            ),
        ),
    )


# --- text -------------------------------------------------------------------------------------


def test_text_matches_the_golden_file() -> None:
    check_golden("plan_text.txt", render_text(small_plan(), color=False))


def test_text_without_color_has_no_ansi_codes() -> None:
    assert "\x1b" not in render_text(small_plan(), color=False)


def test_text_with_color_paints_each_action() -> None:
    colored = render_text(small_plan(), color=True)
    for code in ("32", "33", "31", "36"):
        assert f"\x1b[{code}m" in colored
    assert ANSI.sub("", colored) == render_text(small_plan(), color=False)


def test_text_ends_with_the_summary_line() -> None:
    text = render_text(small_plan())
    assert text.endswith(f"\n{SUMMARY}\n")


def test_text_of_an_empty_plan() -> None:
    plan = Plan("sandbox", "", 0, "d", ())
    text = render_text(plan)
    assert "No changes: the directory matches the files." in text
    assert text.endswith("Plan: 0 to create, 0 to update, 0 to deactivate, 0 to reactivate.\n")


def test_text_shows_why_an_unsafe_plan_is_refused() -> None:
    plan = Plan("sandbox", "", 0, "d", small_plan().changes, unsafe="too many deactivations")
    lines = render_text(plan).splitlines()
    assert lines[-4:] == [
        "Unsafe: too many deactivations",
        "",
        f"Plan digest: {plan.digest}",
        SUMMARY,
    ]


# --- markdown ---------------------------------------------------------------------------------


def small_graph(plan: Plan) -> Graph:
    """The hierarchy of the small plan: its records under their unchanged parent, under the
    gateway."""
    records = [
        Desired.of(
            kind=c.kind,
            identity=c.identity,
            envelope=c.envelope,
            payload=c.after,
            active=c.after["Active"],
            file=c.source or "",
            depends_on=(f"organization:{PARENT}",),
        )
        for c in plan.changes
    ]
    parent = {
        **facility_payload(PARENT, "Northwind Health"),
        "PartOf": {"Identifier": {"Value": GATEWAY}},
    }
    records.append(
        Desired.of(
            kind="organization",
            identity=PARENT,
            envelope={"Directory": "Carequality"},
            payload=parent,
            active=True,
            file="orgs/northwind.yaml",
            depends_on=(),
        )
    )
    return build_graph({d.key: d for d in records}, plan, gateways={GATEWAY})


def test_markdown_matches_the_golden_file() -> None:
    plan = small_plan()
    check_golden("plan_markdown.md", render_markdown(plan, graph=small_graph(plan)))


def test_markdown_without_a_graph_has_no_flowchart() -> None:
    assert "```mermaid" not in render_markdown(small_plan())


def test_markdown_escapes_pipes_in_table_cells() -> None:
    markdown = render_markdown(small_plan())
    assert "| Northwind Madison East \\| Clinic |" in markdown


def test_a_huge_markdown_plan_fits_a_comment_and_says_where_the_full_plan_is() -> None:
    plan = big_create_plan(2000)
    markdown = render_markdown(plan, full_plan_at="the `plan` artifact of this run")
    assert len(markdown) <= MARKDOWN_LIMIT == 60_000
    assert (
        "**Plan: 2000 to create, 0 to update, 0 to deactivate, 0 to reactivate.**\n\n"
        f"Plan digest: `{plan.digest}`\n"
        f"<!-- reconciler:plan-digest env=production {plan.digest} -->\n\n|"
    ) in markdown
    assert "see the `plan` artifact of this run" in markdown
    assert "_Showing the first " in markdown
    assert "2000 changes" in markdown


def test_a_huge_markdown_plan_points_at_the_command_by_default() -> None:
    markdown = render_markdown(big_create_plan(2000))
    assert len(markdown) <= MARKDOWN_LIMIT
    assert "`reconciler plan --env production`" in markdown


@pytest.mark.parametrize("limit", [2_000, 10_000, 30_000])
def test_markdown_respects_any_limit(limit: int) -> None:
    markdown = render_markdown(big_create_plan(300), limit=limit)
    assert len(markdown) <= limit
    assert "Plan: 300 to create" in markdown


def test_a_small_markdown_plan_is_shown_in_full() -> None:
    markdown = render_markdown(small_plan())
    assert "<details><summary>Field changes</summary>" in markdown
    assert "too long for a comment" not in markdown


# --- json -------------------------------------------------------------------------------------


def test_json_is_the_plan_document_sorted_with_a_final_newline() -> None:
    text = render_json(small_plan())
    assert text.endswith("}\n")
    doc = json.loads(text)
    assert doc == json.loads(json.dumps(plan_document(small_plan())))
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert doc["summary"] == {"create": 1, "update": 1, "deactivate": 1, "reactivate": 1}


@pytest.mark.parametrize(
    "plan", [small_plan(), big_create_plan(3), replace(small_plan(), changes=())]
)
def test_streamed_json_is_the_json_byte_for_byte(plan: Plan) -> None:
    assert "".join(render_json_chunks(plan)) == render_json(plan)


def test_json_does_not_depend_on_key_order() -> None:
    plan = small_plan()
    shuffled = tuple(
        Change(
            kind=c.kind,
            identity=c.identity,
            action=c.action,
            envelope=c.envelope,
            before=None if c.before is None else dict(reversed(list(c.before.items()))),
            packed_after=pack(dict(reversed(list(c.after.items())))),
            fields=c.fields,
            source=c.source,
            depends_on=c.depends_on,
        )
        for c in plan.changes
    )
    assert render_json(Plan(plan.environment, plan.lineage, plan.serial, "d" * 64, shuffled)) == (
        render_json(plan)
    )


# --- problems ---------------------------------------------------------------------------------


PROBLEMS = [
    Problem("orgs/a.yaml", 3, "unknown key 'colour'"),
    Problem("orgs/a.yaml", 0, "cannot be read: Permission denied"),
    Problem("orgs/b.yaml", 9, "NPI check digit fails", severity="warning"),
]


def test_problems_for_a_terminal() -> None:
    assert render_problems(PROBLEMS) == (
        "orgs/a.yaml:3: error: unknown key 'colour'\n"
        "orgs/a.yaml: cannot be read: Permission denied\n"
        "orgs/b.yaml:9: warning: NPI check digit fails\n"
        "2 problems in 1 file: nothing was planned or applied.\n"
    )


def test_github_annotations() -> None:
    assert render_github(PROBLEMS).splitlines() == [
        "::error file=orgs/a.yaml,line=3,title=reconciler validation error::unknown key 'colour'",
        "::error file=orgs/a.yaml,title=reconciler validation error::cannot be read: "
        "Permission denied",
        "::warning file=orgs/b.yaml,line=9,title=reconciler warning::NPI check digit fails",
    ]
    assert render_github([]) == ""


def test_github_annotations_escape_data_and_properties() -> None:
    problem = Problem("orgs/a,b:c%.yaml", 4, "50% off\nsecond line\r, with: colon")
    assert render_github([problem]) == (
        "::error file=orgs/a%2Cb%3Ac%25.yaml,line=4,title=reconciler validation error::"
        "50%25 off%0Asecond line%0D, with: colon\n"
    )


def test_problems_document() -> None:
    doc = problems_document(PROBLEMS, records=4)
    assert doc["valid"] is False
    assert doc["records"] == 4
    assert doc["problems"][0] == {
        "file": "orgs/a.yaml",
        "line": 3,
        "severity": "error",
        "message": "unknown key 'colour'",
        "subject": "",
    }
    assert problems_document(PROBLEMS[2:], records=1)["valid"] is True
