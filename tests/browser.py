"""A real headless Chromium (Debian's `chromium`, driven by Playwright) for the web UI's tests.

Each page records its console errors, uncaught exceptions and every request that leaves the server's
origin; `checked_page` fails the test on any of them. Screenshots go to outputs/test-artifacts/.
"""

from __future__ import annotations

import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "outputs" / "test-artifacts"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser():
    path = chromium_path()
    if path is None:
        message = "NO BROWSER: Chromium is not installed, so the web UI is NOT TESTED (make test installs it)"
        warnings.warn(message)
        pytest.skip(message)
    return path


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    path = require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def checked_page(chromium, base: str, name: str, width: int = 1280, expected_statuses: tuple[int, ...] = ()):
    """A page on `base` that fails the test on JavaScript errors or requests to other origins. Chromium logs every
    4xx answer as a console error; those with `expected_statuses` (the page handles them) are allowed."""
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    allowed = tuple(f"status of {status} " for status in expected_statuses)

    def console(message) -> None:
        if message.type == "error" and not (allowed and any(text in message.text for text in allowed)):
            problems.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda request: request.url.startswith((base, "data:", "blob:"))
            or problems.append(f"request left the origin: {request.url}"))
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
    assert not problems, problems
