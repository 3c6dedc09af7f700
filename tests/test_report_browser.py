"""The report page in a real browser (Debian's Chromium through Playwright): it loads from
file:// with no request and no console error, shows every record and environment, filters as
one types, shows a record named with a script tag as text without running it, is whole without
JavaScript, and renders something (not a blank page) on a desktop and on a phone."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import chromium, missing, pixel_spread
from factories import EXAMPLE_ORGS, EXAMPLE_SETTINGS, PROJECT, organization, settle
from git_story import Git
from sandbox_server import run_cli

from reconciler.formats import yamltext
from reconciler.reconcile.workspace import Workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

HOSTILE = "<script>window.__pwned=1</script>"
# The README's picture of the page: UPDATE_REPORT_SCREENSHOT=1 pytest tests/test_report_browser.py
SCREENSHOT = PROJECT / ".github" / "report.png"


@dataclass
class Site:
    repo: Path
    page: Path
    names: list[str]
    environments: list[str]

    @property
    def url(self) -> str:
        return self.page.as_uri()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The example repository with a hostile record, development applied and committed, an
    audit trail for development, and its report written by `reconciler report --out site`."""
    root = tmp_path_factory.mktemp("report") / "records"
    root.mkdir()
    shutil.copytree(EXAMPLE_ORGS, root / "orgs")
    shutil.copytree(EXAMPLE_ORGS.parent / "providers", root / "providers")
    shutil.copy(EXAMPLE_SETTINGS, root / "reconciler.yaml")
    gateway = "2.16.840.1.113883.3.6147.458.2"
    hostile = organization(77, parent=None, name=HOSTILE, part_of=gateway)
    (root / "orgs" / "hostile.yaml").write_text(yamltext.dump(hostile, sort_keys=False))
    git = Git(root)
    first = git.commit("Add the example records")
    settle(Workspace(root, "development"), commit=first)
    git.commit("reconciler: apply development")
    audit = root / "audit" / "development.jsonl"
    audit.parent.mkdir()
    lines = [
        {"seq": 1, "time": "2026-12-07T10:00:00Z", "environment": "development", "actor": "alice"},
        {
            "seq": 2,
            "time": "2026-12-08T10:00:00Z",
            "environment": "development",
            "actor": HOSTILE,
            "via": "github",
            "pull_request": 42,
            "approved_by": ["bob"],
            "result": "applied",
            "calls": [{"key": "organization:1", "action": "update", "status": "applied"}],
        },
    ]
    audit.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_cli(root, "report", "--out", "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Wrote site/index.html" in done.stdout
    status = json.loads(run_cli(root, "status", "--format", "json").stdout)
    return Site(
        repo=root,
        page=root / "site" / "index.html",
        names=[record["name"] for record in status["records"]],
        environments=status["environments"],
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def _watch(page: Page) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on(
        "console",
        lambda message: seen["errors"].append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    return seen


def _visible_names(page: Page) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        "#matrix tbody tr",
        "rows => rows.filter(r => r.offsetParent !== null)"
        ".map(r => r.querySelector('.r b').textContent)",
    )
    return names


def test_the_page_loads_from_file_with_no_request_and_no_console_error(
    site: Site, page: Page
) -> None:
    seen = _watch(page)
    page.goto(site.url, wait_until="load")
    page.wait_for_timeout(300)  # the filter's index is built after the load
    assert seen["requests"] == [site.url]
    assert all(url.startswith(("file://", "data:")) for url in seen["requests"])
    assert seen["errors"] == []


def test_every_record_and_every_environment_is_on_the_page(site: Site, page: Page) -> None:
    page.goto(site.url)
    headers = page.eval_on_selector_all(
        "#matrix thead th", "cells => cells.map(c => c.textContent)"
    )
    assert headers == ["Record", *site.environments]
    assert sorted(_visible_names(page)) == sorted(site.names)
    assert len(site.names) == 8  # the five organizations, two providers and the hostile one
    assert page.locator("#hierarchy").inner_text().count("Northwind") >= 5
    assert "development: create pending" not in page.locator("#hierarchy").inner_text()
    assert "production: create pending" in page.locator("#hierarchy").inner_text()


def test_typing_in_the_filter_hides_the_rows_that_do_not_match(site: Site, page: Page) -> None:
    page.goto(site.url)
    box = page.locator("#filter")
    assert box.is_visible()
    box.press_sequentially("madison")
    assert _visible_names(page) == ["Northwind Madison East Clinic"]
    assert page.locator("#shown").inner_text() == f"1 of {len(site.names)} records"
    box.fill("")
    box.press_sequentially("provider pat")  # every word, anywhere in the row
    assert _visible_names(page) == ["Pat Granite"]
    box.fill("nothing matches this")
    assert _visible_names(page) == []
    box.fill("")
    assert sorted(_visible_names(page)) == sorted(site.names)
    assert page.locator("#shown").inner_text() == ""


def test_a_record_named_with_a_script_tag_is_shown_as_text_and_never_runs(
    site: Site, page: Page
) -> None:
    seen = _watch(page)
    page.goto(site.url)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert HOSTILE in _visible_names(page)
    assert HOSTILE in page.locator("#audit").inner_text()  # an audit entry's actor, as text
    assert page.evaluate("document.scripts.length") == 1
    page.locator("#filter").press_sequentially("script")
    assert _visible_names(page) == [HOSTILE]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert seen["errors"] == []


def test_without_javascript_every_name_is_shown(site: Site, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site.url)
        assert sorted(_names_without_script(page)) == sorted(site.names)
        assert not page.locator("#filter").is_visible()  # no box that could not work
        page.locator("#matrix tbody tr summary").first.click()  # history opens without script
        assert page.locator("#matrix tbody tr details ol").first.is_visible()
    finally:
        context.close()


def _names_without_script(page: Page) -> list[str]:
    return [
        row.locator(".r b").inner_text()
        for row in page.locator("#matrix tbody tr").all()
        if row.is_visible()
    ]


def test_the_history_and_the_audit_trail_are_shown(site: Site, page: Page) -> None:
    page.goto(site.url)
    row = page.locator("#matrix tbody tr", has_text="Northwind Madison East Clinic")
    row.locator("summary").click()
    history = row.locator("details").inner_text()
    assert "file added: a new record" in history
    assert "Add the example records" in history
    assert "applied to development from commit" in history
    audit = page.locator("#audit").inner_text()
    assert "The last 2 of 2 entries of audit/development.jsonl" in audit
    assert "#42, approved by bob" in audit
    assert "There is no audit trail for production yet" in audit


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_the_page_renders_something_on_a_desktop_and_a_phone(
    site: Site, browser: Browser, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(site.url)
        # Nothing wider than the screen: a phone scrolls down, never sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        png = page.screenshot(full_page=False)
        if width == 1280 and os.environ.get("UPDATE_REPORT_SCREENSHOT"):
            page.locator("#filter").press_sequentially("northwind")  # the filter at work
            SCREENSHOT.write_bytes(page.screenshot(full_page=False))
        spread = pixel_spread(page, png)
        # A blank page (or one all background) has one colour and no foreground.
        assert spread["colours"] >= 30, spread
        assert spread["foreground"] >= 0.03, spread
    finally:
        context.close()


def test_the_check_for_a_blank_page_sees_one(browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 800, "height": 600})
    try:
        page.set_content("<!doctype html><body style='background:#fff'></body>")
        spread = pixel_spread(page, page.screenshot())
        assert spread == {"colours": 1, "foreground": 0}
    finally:
        page.close()


def test_printed_the_table_is_whole_and_the_filter_is_gone(site: Site, page: Page) -> None:
    page.goto(site.url)
    page.emulate_media(media="print")
    assert not page.locator("#filter").is_visible()
    assert not page.locator("nav").is_visible()
    assert sorted(_visible_names(page)) == sorted(site.names)


def test_the_committed_screenshot_is_a_png_of_the_page() -> None:
    data = SCREENSHOT.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 900)


def test_an_out_that_is_a_file_is_one_clear_error(site: Site) -> None:
    taken = site.repo / "taken"
    taken.write_text("not a folder")
    done = run_cli(site.repo, "report", "--out", "taken")
    assert done.returncode == 1
    assert "taken" in done.stderr
    assert "'taken' is a file" in done.stderr
    assert taken.read_text() == "not a folder"
    assert not list(site.repo.glob(".index.html.*"))
