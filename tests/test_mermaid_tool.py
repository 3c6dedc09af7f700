"""The mermaid harness: a plan-sized flowchart with hostile names renders in the real mmdc and
shows them literally; check_flowchart agrees with mmdc on what does not parse."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mermaid import (
    TRICKY,
    check_flowchart,
    node_classes,
    render,
    renderer_unavailable,
    svg_text,
)

REPO = Path(__file__).resolve().parents[1]
UNAVAILABLE = renderer_unavailable()
needs_renderer = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

GATEWAY = ("Acme HIE & Partners: Gateway", "Acme HIE #38; Partners#58; Gateway")

# A plan's graph as the generator will draw it: one node per record, a class per action,
# unchanged ancestors plain, deactivated children on dotted edges.
PLAN_30 = "\n".join(
    [
        "flowchart TD",
        "  %% 30 records: 20 with hostile names, 10 plain",
        f'  subgraph gw ["{GATEWAY[1]}"]',
        "    direction TB",
        '    n01(["Acme Health Network"])',
        '    n01 --> n02["Northern Region"]',
        '    n01 --> n03["Southern Region"]',
        '    n01 -.-> n04["Retired Region"]',
        *(f'    n{i:02}["{label}"]' for i, (_, label) in enumerate(TRICKY, start=5)),
        *(f"    n02 --> n{i:02}" for i in range(5, 15)),
        *(f"    n03 --> n{i:02}" for i in range(15, 25)),
        '    n04 -.-> n25["Old Clinic A"]',
        '    n04 -.-> n26["Old Clinic B"]',
        '    n05 --> n27["Clínica São José - Anexo"]',
        '    n06 --> n28["Branch 28"]',
        '    n07 --> n29["Branch 29"]',
        '    n08 --> n30["Branch 30"]',
        "  end",
        "  classDef create fill:#d4edda,stroke:#28a745,color:#155724",
        "  classDef update fill:#fff3cd,stroke:#ffc107,color:#856404",
        "  classDef deactivate fill:#f8d7da,stroke:#dc3545,color:#721c24",
        "  classDef reactivate fill:#cce5ff,stroke:#007bff,color:#004085",
        "  classDef inactive fill:#eeeeee,stroke:#999999,color:#666666,stroke-dasharray: 5 5",
        "  class n05,n06,n07,n08,n09,n10,n11,n12,n27,n28,n29,n30 create",
        "  class n13,n14,n15,n16,n17,n18 update",
        "  class n04,n25 deactivate",
        "  class n19,n20,n21,n22 reactivate",
        "  class n23,n24,n26 inactive",
    ]
)
CLASS_COUNTS = {"create": 12, "update": 6, "deactivate": 2, "reactivate": 4, "inactive": 3}


def test_the_plan_diagram_passes_the_checker() -> None:
    assert check_flowchart(PLAN_30) == []


@needs_renderer
def test_a_30_record_plan_renders_with_every_name_literal(artifacts: Path) -> None:
    svg = artifacts / "mermaid-plan-30.svg"
    render(PLAN_30, svg)
    text = svg_text(svg)
    for name, _ in TRICKY:
        assert name in text.splitlines(), name
    assert GATEWAY[0] in text.splitlines()
    root = ET.parse(svg).getroot()
    html = "{http://www.w3.org/1999/xhtml}"
    assert not [e.tag for e in root.iter() if e.tag in (f"{html}b", f"{html}strong")]
    assert not [e for e in root.iter() if "katex" in (e.get("class") or "")]
    classes = node_classes(svg)
    assert classes["node"] == 30
    assert {name: classes[name] for name in CLASS_COUNTS} == CLASS_COUNTS


@needs_renderer
def test_a_30_record_plan_renders_to_png(artifacts: Path) -> None:
    png = artifacts / "mermaid-plan-30.png"
    render(PLAN_30, png)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# Each is rejected by both: the checker names the problem, mmdc fails (or, for `#5;`, writes
# an SVG that is not XML).
BAD = {
    "raw quote": ('flowchart TD\n  a["The "Best" Clinic"]', "raw '\"'", "Parse error"),
    "keyword id": ('flowchart TD\n  end["x"] --> b["y"]', "keyword", "Parse error"),
    "stray entity": ('flowchart TD\n  a["Room #5; East"]', "XML", "not well-formed"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_the_checker_rejects_a_bad_diagram(case: tuple[str, str, str]) -> None:
    text, problem, _ = case
    assert any(problem in found for found in check_flowchart(text)), check_flowchart(text)


@needs_renderer
@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_mmdc_rejects_the_same_bad_diagram(case: tuple[str, str, str], tmp_path: Path) -> None:
    text, _, failure = case
    with pytest.raises(AssertionError, match=failure):
        render(text, tmp_path / "bad.svg")


@needs_renderer
def test_an_error_diagram_saved_with_exit_0_fails(tmp_path: Path) -> None:
    # mmdc draws mermaid's own "error" diagram type and exits 0: render must not pass it.
    with pytest.raises(AssertionError, match="error diagram"):
        render("error", tmp_path / "error.svg")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("graph TD\n  a", "`flowchart TD`"),
        ("", "no `flowchart TD` header"),
        ('flowchart TD\n  a["x"] --> b["y"] %% why', "not a node"),
        ('flowchart TD\n  a[""]', "empty label"),
        ('flowchart TD\n  a("round")', "not a node"),
        ("flowchart TD\n  a --> click", "'click' is a mermaid keyword"),
        ("flowchart TD\n  a-->b", "not letters, digits and underscores"),
        ('flowchart TD\n  a["x"]\n  b["y"]\n  classDef c fill:#fff\n  class a, b c', "class A,B"),
        ('flowchart TD\n  a["x"]\n  classDef c fill:#fff;', "no `;`"),
        ('flowchart TD\n  a["x"]\n  class a nosuch', "no classDef"),
        ('flowchart TD\n  a["x"]\n  classDef c fill:#fff\n  class z c', "unknown node 'z'"),
        ('flowchart TD\n  a["x"]\n  classDef end fill:#fff', "'end' is a mermaid keyword"),
        ('flowchart TD\n  subgraph s ["t"]\n  a["x"]', "never closed"),
        ('flowchart TD\n  a["x"]\n  end', "without a subgraph"),
        ('flowchart TD\n  a["AT&T"]', "write #38;"),
        ('flowchart TD\n  a["<b>x</b>"]', "write #60;"),
        ('flowchart TD\n  a["C#"]', "write #35;"),
        ('flowchart TD\n  a["Room #x41;"]', "no entity code"),
        ('flowchart TD\n  a["Lifestyle: Clinic"]', "write #58;"),
        ('flowchart TD\n  a["`md`"]', "write #96;"),
        ('flowchart TD\n  a["$$x$$"]', "write #36;"),
        ('flowchart TD\n  a["#182;ß"]', "cannot be rendered"),
        ('flowchart TD\n  a["Ask direction LR"]', "direction statement"),
    ],
)
def test_the_checker_names_each_problem(text: str, problem: str) -> None:
    problems = check_flowchart(text)
    assert any(problem in found for found in problems), problems


def test_the_checker_accepts_the_whole_subset() -> None:
    text = """
%% a comment before the header
flowchart LR

  subgraph g1 ["Gateway #34;One#34;"]
    direction TB
    subgraph g2
      a(["Root"]) --> b["Child [x] (y) {z} | ; ~"]
    end
  end
  b -.-> c["#quot;Named#quot; #233; codes, Direction LR, direction#32;LR"]
  c
  classDef create fill:#d4edda,stroke-dasharray: 5 5
  class a,b,c create
"""
    assert check_flowchart(text) == []
