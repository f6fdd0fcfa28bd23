"""The API docs render in a browser that can reach nothing but this server (no CDN, no fonts)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def offline_page(page, live_server):
    """The page, with every request to another host refused and recorded."""
    ours = urlsplit(live_server.url).netloc
    page.elsewhere = []

    def only_this_server(route):
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            page.elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    return page


def test_swagger_ui_renders_the_operations_offline(offline_page):
    page = offline_page

    page.goto("/api/docs/")
    page.wait_for_selector(".opblock")
    page.shot("swagger")

    assert page.locator(".opblock-post .opblock-summary-path[data-path='/api/v1/applications/']").count() == 1
    assert page.locator(".opblock").count() > 20
    assert page.elsewhere == []


def test_redoc_renders_the_operations_offline(offline_page):
    page = offline_page

    page.goto("/api/redoc/")
    page.wait_for_selector("[data-section-id^='operation/']")
    page.shot("redoc")

    assert page.locator("[data-section-id^='operation/']").count() > 20
    assert page.get_by_text("/api/v1/applications/", exact=False).count() > 0
    # ReDoc's bundle tries its attribution logo on Redocly's CDN and drops the image when that fails:
    # the one request to elsewhere, refused here, and nothing the page needs.
    assert set(page.elsewhere) <= {REDOCLY_LOGO}
    assert page.locator("img[alt='redocly logo']").count() == 0
