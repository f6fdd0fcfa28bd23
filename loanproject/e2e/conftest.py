"""A real browser against a live server. Screenshots of every step land in artifacts/e2e/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts" / "e2e"
PASSWORD = "e2e-pass-123"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if settings.REQUIRE_SERVICES and any(item.get_closest_marker("e2e") for item in items):
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but no Chromium at {CHROMIUM} (apt-get install chromium)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}")
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Playwright's sync API runs an event loop in this thread
    while it is open; the tests' own ORM calls are still plain synchronous code, so Django's
    async-safety guard is lifted until the browser closes (and only then)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield from _launch(playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(playwright):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser, live_server, request):
    """A page of its own. `page.loads` lists every document the browser loaded (its URL), so a test
    can assert how many page loads a task takes; `page.shot(name)` saves a screenshot."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True, base_url=live_server.url
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.shot = lambda name: page.screenshot(path=ARTIFACTS / f"{request.node.name}-{name}.png", full_page=True)
    page.loads = []
    page.on("load", lambda loaded: page.loads.append(loaded.url))
    yield page
    page.shot("end")
    context.close()


class AccessibilityAudit:
    """axe-core (axe-playwright-python's bundled axe.min.js) over each page a role's walk loads.

    `check(page)` audits the page as it is now; `assert_every_load_checked(page)` fails when the
    walk loaded a page it never audited, so "no serious or critical violation on any page they
    visit" cannot silently skip one."""

    BLOCKING = frozenset({"serious", "critical"})

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self._axe = Axe()
        self.checked: dict[int, str] = {}

    def check(self, page) -> None:
        page.wait_for_load_state("load")
        results = self._axe.run(page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in self.BLOCKING]
        self.checked[len(page.loads)] = page.url
        assert not blocking, f"axe on {page.url}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} at " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
            for v in blocking
        )

    def assert_every_load_checked(self, page) -> None:
        unchecked = [url for index, url in enumerate(page.loads, start=1) if index not in self.checked]
        assert not unchecked, f"pages loaded but never audited by axe: {unchecked}"


@pytest.fixture
def axe():
    return AccessibilityAudit()


def log_in_audited(page, axe, username: str) -> None:
    """Log in as a role's walk does: the login page and the landing, each audited by axe (two page
    loads, counted by the walk)."""
    page.goto("/admin/login/")
    axe.check(page)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    axe.check(page)


def log_in(page, username: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
