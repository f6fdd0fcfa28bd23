"""The API docs (Swagger UI at /api/docs/, ReDoc at /api/redoc/) come from our own static files:
no CDN, so they work without internet, under `make run` (static files from the apps) and in
production (collectstatic's hashed files served by whitenoise)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from loanproject.settings import base

pytestmark = pytest.mark.django_db

DOCS = ["/api/docs/", "/api/redoc/"]
REFERENCE = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)\"""")


def references(html: str) -> list[str]:
    return REFERENCE.findall(html)


def assert_self_contained(client: Client, path: str) -> list[str]:
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"cdn\.jsdelivr|unpkg|https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html) == []
    assets = references(html)
    assert assets and all(url.startswith("/static/drf_spectacular_sidecar/") for url in assets), assets
    assert {url: client.get(url).status_code for url in assets} == dict.fromkeys(assets, 200)
    return assets


@pytest.mark.parametrize("path", DOCS)
def test_the_docs_reference_only_static_files_the_app_serves_under_make_run(path):
    # `make run` (DEBUG): whitenoise serves the apps' static files through the finders.
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        assets = assert_self_contained(Client(), path)

    assert len(assets) == (4 if path == "/api/docs/" else 1)  # favicon, CSS, 2 bundles; the ReDoc bundle


@pytest.mark.parametrize("path", DOCS)
def test_the_docs_reference_only_static_files_whitenoise_serves_after_collectstatic(path, tmp_path):
    with override_settings(STORAGES=base.STORAGES, STATIC_ROOT=tmp_path / "static"):
        call_command("collectstatic", interactive=False, verbosity=0)
        assets = assert_self_contained(Client(), path)  # a new client: whitenoise reads STATIC_ROOT when it starts

    assert all(re.search(r"\.[0-9a-f]{12}\.(?:js|css|png)$", url) for url in assets), assets


def test_the_docs_load_the_schema_of_this_server():
    swagger, redoc = (Client().get(path).content.decode() for path in DOCS)

    assert '"/api/schema/"' in swagger
    assert 'spec-url="/api/schema/"' in redoc
    assert Client().get("/api/schema/").status_code == 200
