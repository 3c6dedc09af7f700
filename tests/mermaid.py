r"""Mermaid in tests: render with the real mermaid-cli (mmdc, headless Chromium), and a
pure-Python syntax check of the flowchart subset the reconciler generates.

ESCAPING, found by rendering with mmdc 11.17.0 (mermaid 11.17.2, Chromium 150); the generator
must follow it for a node label or subgraph title (`ID["..."]`) to show its literal text:

- Write these characters as decimal entity codes `#NNN;`, always:
  `"` #34;  `#` #35;  `$` #36;  `&` #38;  `:` #58;  `<` #60;  `>` #62;  `` ` `` #96;
  Mermaid hides `#\w+;` from its parser and turns it into an HTML entity of the label, so
  the label shows the character. Named codes (`#quot;`, `#lt;`) work as well; decimal
  codes cover every character with one rule; hex (`#x41;`) is not supported.
- This holds for HTML labels, the flowchart default. With `htmlLabels: false` mermaid
  11.17.2 draws the codes themselves (`&#35;`), so the generator must not turn them off.
- Why each one: a raw `"` ends the string (parse error). A raw `#` followed by `word;` is
  taken as an entity (`Room #5; east` gives `&#5;`, and an SVG that is not even XML). `&`,
  `<`, `>` are HTML (`<b>x</b>` is drawn bold, `&amp;` as `&`). `$$x$$` is KaTeX math.
  `:` guards two traps: `fa:fa-car` becomes an icon, and a line that holds `style` or
  `classDef`, then `:`, a non-space run and `#...;` loses its last `;` before parsing
  (`"Lifestyle:#35;1"` is drawn `Lifestyle:#351`). A label wrapped in backticks
  (`"`...`"`) is markdown; escaped backticks keep it plain text.
- Everything else is literal inside the quotes: `[ ] ( ) { } | ; % \ ~ * _ -`, `%%`,
  `**x**` (plain labels are not markdown), accented and CJK text, emoji.
- `direction` then whitespace then `TB`, `BT`, `LR`, `RL` or `TD` anywhere on a line makes
  the whole line a direction statement: `a["Ask direction LR"]` silently draws nothing.
  Write that whitespace as `#32;`. (Case-sensitive: `Direction LR` is fine.)
- No raw newline: inside quotes it becomes a line break (as `<br>` does); `#10;` is drawn as
  a space. Leading and trailing spaces are dropped; an empty label `[""]` does not parse.
- Not renderable at all: the pairs `¶ß` and `ﬂ°` (mermaid's own entity placeholders, decoded
  again in the finished SVG, so even `#182;ß` comes out as `;`).

Node and class IDs: `[A-Za-z0-9_]+`, and not a flowchart keyword (`end`, `graph`, `style`,
`class`, `classDef`, `linkStyle`, `interpolate`, `subgraph`, `flowchart`, `_blank`, ...
fail as an ID; `click` fails as an edge's target). Keywords are case-sensitive (`End` is
fine). A subgraph is laid out left-to-right in a `flowchart TD` unless it says `direction TB`
on its first line. One statement per line: a trailing `%%` comment and `class A, B x` (space
after the comma) do not parse.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from html.entities import html5
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Without these Chromium tries to reach the network (closed here) and GPU/sandbox facilities
# that a CI container lacks; the profile directory is added per render so no state carries.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
RENDER_TIMEOUT = 120.0
PAGE_WIDTH = 8000
SVG_NS = "{http://www.w3.org/2000/svg}"


def chromium_path() -> str:
    """The browser mmdc drives: PUPPETEER_EXECUTABLE_PATH, else Debian's chromium."""
    return os.environ.get("PUPPETEER_EXECUTABLE_PATH") or CHROMIUM


def renderer_unavailable() -> str | None:
    """Why mmdc cannot render here (a pytest skip reason), or None when it can."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node (apt-get install nodejs npm)")
    if shutil.which("mmdc") is None:
        missing.append("mmdc (npm install -g @mermaid-js/mermaid-cli, see .ci/run)")
    browser = chromium_path()
    if not (os.path.isfile(browser) and os.access(browser, os.X_OK)):
        missing.append(f"chromium at {browser} (apt-get install chromium)")
    if not missing:
        return None
    return "mermaid renderer unavailable, missing: " + "; ".join(missing)


def render(text: str, out: Path) -> None:
    """Render mermaid `text` to `out` (.svg or .png) with mmdc; AssertionError if it fails."""
    if out.suffix not in (".svg", ".png"):
        raise ValueError(f"render writes .svg or .png, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mmdc-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        # A PNG cannot be searched for mermaid's error diagram: check an SVG of it first.
        svg = out if out.suffix == ".svg" else work / "check.svg"
        _mmdc(text, svg, work)
        _assert_not_error_diagram(svg)
        if out != svg:
            _mmdc(text, out, work)


def _mmdc(text: str, out: Path, work: Path) -> None:
    source = work / "diagram.mmd"
    source.write_text(text, encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="profile-", dir=work)
    config = work / "puppeteer.json"
    config.write_text(
        json.dumps(
            {
                "executablePath": chromium_path(),
                "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"],
            }
        ),
        encoding="utf-8",
    )
    # A page as wide as the widest diagram we expect, so a PNG keeps its natural size rather
    # than being shrunk to mmdc's default 800px (an SVG scales either way).
    command = ["mmdc", "--quiet", "--width", str(PAGE_WIDTH), "-p", str(config)]
    command += ["-i", str(source), "-o", str(out)]
    out.unlink(missing_ok=True)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as mmdc:
        try:
            _, stderr = mmdc.communicate(timeout=RENDER_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            # Chromium runs detached, in a session of its own: SIGTERM lets puppeteer close it.
            mmdc.terminate()
            try:
                mmdc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                mmdc.kill()
            raise AssertionError(f"mmdc did not finish in {RENDER_TIMEOUT:g}s") from exc
    if mmdc.returncode != 0 or not out.is_file():
        raise AssertionError(
            f"mmdc failed (exit {mmdc.returncode}) on:\n{text}\n--- stderr ---\n{stderr}"
        )


def _assert_not_error_diagram(svg: Path) -> None:
    # mermaid draws a parse error as a bomb "Syntax error in text" diagram; mmdc saves it and
    # exits 0 at least for a diagram of mermaid's type `error`. A label with a stray entity
    # code (`#5;`) gives an SVG that is not even XML.
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as exc:
        raise AssertionError(f"mmdc wrote an SVG that is not well-formed XML: {exc}") from exc
    if root.get("aria-roledescription") == "error" or "Syntax error in text" in svg_text(svg):
        raise AssertionError(f"mmdc rendered mermaid's error diagram into {svg}")


def node_classes(svg: Path) -> Counter[str]:
    """How many nodes of a rendered flowchart carry each class (`node` counts them all)."""
    root = ET.parse(svg).getroot()
    return Counter(
        name
        for group in root.iter(f"{SVG_NS}g")
        if "node" in (group.get("class") or "").split()
        for name in (group.get("class") or "").split()
    )


def svg_text(svg: Path) -> str:
    """All text of an SVG (labels in <text> or HTML <foreignObject>), one run per line."""
    root = ET.parse(svg).getroot()
    runs = (
        "".join(element.itertext()).strip()
        for element in root.iter()
        if element.tag in (f"{SVG_NS}text", f"{SVG_NS}foreignObject")
    )
    return "\n".join(run for run in runs if run)


# The flowchart lexer's words: as a node or class ID each one fails to parse somewhere.
KEYWORDS = frozenset(
    {
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "style",
        "linkStyle",
        "interpolate",
        "class",
        "classDef",
        "click",
        "call",
        "href",
        "default",
        "direction",
        "_self",
        "_blank",
        "_parent",
        "_top",
    }
)
# Characters that must be written as entity codes in a label (see ESCAPING above).
MUST_ESCAPE = {
    '"': "#34;",
    "#": "#35;",
    "$": "#36;",
    "&": "#38;",
    ":": "#58;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
}
UNRENDERABLE = ("¶ß", "ﬂ°")

_HEADER = re.compile(r"flowchart (TD|LR)")
_DIRECTION = re.compile(r"direction (TB|TD|LR)")
# mermaid's lexer takes any line holding this for a direction statement, whatever else it has.
_DIRECTION_ANYWHERE = re.compile(r"direction\s+(TB|BT|RL|LR|TD)")
_ID = re.compile(r"[A-Za-z0-9_]+")
_NODE = re.compile(r'(?P<id>[^\s\[("]+)(?:\["(?P<square>.*)"\]|\(\["(?P<stadium>.*)"\]\))?')
_ARROW = re.compile(r" +(?:-->|-\.->) +")
_CLASS_DEF = re.compile(r"classDef (?P<name>\S+) (?P<styles>.+)")
_STYLE = re.compile(r"[a-z-]+: ?[^,;:\s][^,;:]*")
_CLASS = re.compile(r"class (?P<ids>\S+) (?P<name>\S+)")
_SUBGRAPH = re.compile(r'subgraph (?P<id>[^\s\["]+)(?: ?\["(?P<title>.*)"\])?')
_ENTITY = re.compile(r"#(?:(?P<code>[0-9]+)|[A-Za-z0-9_]+);")
# What XML 1.0 admits: other code points make the SVG unreadable.
_XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_flowchart(text: str) -> list[str]:
    """Problems with `text` as the flowchart subset the reconciler writes (empty when fine)."""
    problems: list[str] = []
    nodes: dict[str, int] = {}  # id -> first line
    class_defs: set[str] = set()
    classed: list[tuple[int, str, str]] = []  # (line, node id, class name)
    open_subgraphs: list[int] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%%"):
            continue
        here = f"line {number}"
        if not header_seen:
            header_seen = True
            if not _HEADER.fullmatch(line):
                problems.append(f"{here}: the first statement must be `flowchart TD` or `LR`")
            continue
        if _DIRECTION.fullmatch(line):
            continue
        if _DIRECTION_ANYWHERE.search(line):
            problems.append(
                f"{here}: mermaid reads this line as a direction statement and drops the rest: "
                "write the space after `direction` in a label as #32;"
            )
        elif line == "end":
            if open_subgraphs:
                open_subgraphs.pop()
            else:
                problems.append(f"{here}: `end` without a subgraph")
        elif line.startswith("subgraph "):
            open_subgraphs.append(number)
            problems += _check_subgraph(line, here)
        elif line.startswith("classDef "):
            problems += _check_class_def(line, here, class_defs)
        elif line.startswith("class "):
            problems += _check_class(line, here, classed, number)
        else:
            problems += _check_nodes(line, here, nodes, number)
    if not header_seen:
        problems.append("line 1: empty diagram: no `flowchart TD` header")
    problems += [f"line {n}: subgraph never closed by `end`" for n in open_subgraphs]
    for number, node, name in classed:
        if node not in nodes:
            problems.append(f"line {number}: class {name!r} given to unknown node {node!r}")
        if name not in class_defs:
            problems.append(f"line {number}: class {name!r} has no classDef")
    return problems


def _check_nodes(line: str, here: str, nodes: dict[str, int], number: int) -> list[str]:
    # Split on arrows outside the quoted labels, which may hold ` --> ` themselves.
    if line.count('"') % 2:
        return [f"{here}: unbalanced double quote (a quote in a label is #34;)"]
    masked = re.sub(r'"[^"]*"', lambda m: '"' + "x" * (len(m[0]) - 2) + '"', line)
    problems: list[str] = []
    start = 0
    parts = []
    for arrow in _ARROW.finditer(masked):
        parts.append(line[start : arrow.start()])
        start = arrow.end()
    parts.append(line[start:])
    for part in parts:
        match = _NODE.fullmatch(part)
        if match is None:
            problems.append(
                f"{here}: not a node, an edge (` --> `, ` -.-> `) or a statement: {part!r}"
            )
            continue
        problems += _check_id(match["id"], here, "node")
        nodes.setdefault(match["id"], number)
        label = match["square"] if match["square"] is not None else match["stadium"]
        if label is not None:
            problems += _check_label(label, here)
    return problems


def _check_subgraph(line: str, here: str) -> list[str]:
    match = _SUBGRAPH.fullmatch(line)
    if match is None:
        return [f'{here}: a subgraph is `subgraph ID ["title"]`: {line!r}']
    problems = _check_id(match["id"], here, "subgraph")
    if match["title"] is not None:
        problems += _check_label(match["title"], here)
    return problems


def _check_class_def(line: str, here: str, class_defs: set[str]) -> list[str]:
    match = _CLASS_DEF.fullmatch(line)
    if match is None:
        return [f"{here}: a classDef is `classDef NAME key:value,key:value`: {line!r}"]
    class_defs.add(match["name"])
    problems = _check_id(match["name"], here, "class")
    problems += [
        f"{here}: classDef style {style!r} is not `key:value` (no `;`)"
        for style in match["styles"].split(",")
        if not _STYLE.fullmatch(style)
    ]
    return problems


def _check_class(
    line: str, here: str, classed: list[tuple[int, str, str]], number: int
) -> list[str]:
    match = _CLASS.fullmatch(line)
    if match is None:
        return [f"{here}: a class statement is `class A,B NAME` (no space after commas)"]
    problems = _check_id(match["name"], here, "class")
    for node in match["ids"].split(","):
        problems += _check_id(node, here, "node")
        classed.append((number, node, match["name"]))
    return problems


def _check_id(name: str, here: str, what: str) -> list[str]:
    if not _ID.fullmatch(name):
        return [f"{here}: {what} ID {name!r} is not letters, digits and underscores"]
    if name in KEYWORDS:
        return [f"{here}: {what} ID {name!r} is a mermaid keyword"]
    return []


def _check_label(label: str, here: str) -> list[str]:
    problems = []
    if not label.strip():
        problems.append(f"{here}: empty label")
    for entity in _ENTITY.finditer(label):
        if _decode(entity) == entity[0]:
            problems.append(f"{here}: {entity[0]!r} is no entity code: write its # as #35;")
        elif not _XML_CHAR.fullmatch(_decode(entity)):
            problems.append(f"{here}: {entity[0]!r} is a character XML (the SVG) cannot hold")
    bare = _ENTITY.sub("", label)
    for char, code in MUST_ESCAPE.items():
        if char in bare:
            problems.append(f"{here}: raw {char!r} in label {label!r}: write {code}")
    shown = _ENTITY.sub(_decode, label)
    problems += [
        f"{here}: {pair!r} cannot be rendered (mermaid's entity placeholder)"
        for pair in UNRENDERABLE
        if pair in shown
    ]
    return problems


def _decode(entity: re.Match[str]) -> str:
    """The text an entity code shows; the code itself when it is none (`#x41;`, `#nosuch;`)."""
    code = entity["code"]
    if code is None:
        return html5.get(entity[0][1:], entity[0])
    return chr(int(code)) if int(code) <= 0x10FFFF else entity[0]


# (name as a record holds it, the same name as a label, escaped by the rules of mermaid.py)
TRICKY = [
    ("Clínica São José", "Clínica São José"),
    ("北京协和医院", "北京协和医院"),
    ("🏥 Emoji Health ⚕️", "🏥 Emoji Health ⚕️"),
    ("Zürich Ärztehaus Straße", "Zürich Ärztehaus Straße"),
    ('The "Best" Clinic', "The #34;Best#34; Clinic"),
    ("St. Mary's [North] (Annex) {East}", "St. Mary's [North] (Annex) {East}"),
    ("A|B Health; Ltd.", "A|B Health; Ltd."),
    ("Smith & Sons <Pediatrics>", "Smith #38; Sons #60;Pediatrics#62;"),
    ("Room #5; East", "Room #35;5; East"),
    ("C# Labs #quot; Dept", "C#35; Labs #35;quot; Dept"),
    ("<b>Not Bold</b>", "#60;b#62;Not Bold#60;/b#62;"),
    ("**Not Markdown** _x_", "**Not Markdown** _x_"),
    ("`Backticked`", "#96;Backticked#96;"),
    ("$$E=mc^2$$ Physics", "#36;#36;E=mc^2#36;#36; Physics"),
    ("Lifestyle:#1 Clinic", "Lifestyle#58;#35;1 Clinic"),
    ("fa:fa-car Transport", "fa#58;fa-car Transport"),
    ("AT&amp;T Care", "AT#38;amp;T Care"),
    ("100%% Care --> Home", "100%% Care --#62; Home"),
    ("Back\\slash ~tilde~ direction LR", "Back\\slash ~tilde~ direction#32;LR"),
    ("end", "end"),
]
