"""A real browser for the report's tests and benchmark: Debian's Chromium (`apt-get install
chromium`; .ci/run installs it) driven by Playwright. Playwright's own browser download
(`playwright install`) is never used: it cannot reach its servers here, and the page must work
in the browser people have. Chromium's background services are switched off, so that a page
that loads nothing makes no request at all (the machine's network is closed)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("REPORT_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium, with a fresh profile of its own (Playwright's temporary one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pixel_spread(page: Page, png: bytes) -> dict[str, float]:
    """How much a screenshot shows: its distinct colours, and the share of its pixels that are
    not its most common colour (the background). Decoded by the browser itself (no imaging
    library), on a blank page of its own."""
    encoded = base64.b64encode(png).decode("ascii")
    page.set_content("<!doctype html><title>pixels</title>")
    spread: dict[str, float] = page.evaluate(
        """async (data) => {
            const image = new Image();
            image.src = "data:image/png;base64," + data;
            await image.decode();
            const canvas = document.createElement("canvas");
            canvas.width = image.width;
            canvas.height = image.height;
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0);
            const pixels = context.getImageData(0, 0, image.width, image.height).data;
            const counts = new Map();
            for (let i = 0; i < pixels.length; i += 4) {
                const colour = (pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2];
                counts.set(colour, (counts.get(colour) || 0) + 1);
            }
            const total = pixels.length / 4;
            const background = Math.max(...counts.values());
            return {colours: counts.size, foreground: 1 - background / total};
        }""",
        encoded,
    )
    return spread
