"""Production static files: collectstatic under the production storage (whitenoise's compressed
manifest) succeeds, and the dashboard then links to the hashed files."""

import re

import pytest
from django.core.management import call_command
from django.test import override_settings

from loanproject.settings import base

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_static(tmp_path):
    with override_settings(STORAGES=base.STORAGES, STATIC_ROOT=tmp_path / "static"):
        yield tmp_path / "static"


def test_collectstatic_succeeds_with_the_production_storage(production_static):
    call_command("collectstatic", interactive=False, verbosity=0)

    third_party = sorted(path.name for path in (production_static / "dashboard" / "third_party").iterdir())
    assert "chart-4.6.1.umd.min.js" in third_party
    assert any(re.fullmatch(r"chart-4\.6\.1\.umd\.min\.[0-9a-f]{12}\.js\.gz", name) for name in third_party)
    assert (production_static / "staticfiles.json").exists()


def test_the_dashboard_renders_with_the_manifest_storage(production_static, admin_client):
    call_command("collectstatic", interactive=False, verbosity=0)

    response = admin_client.get("/admin/dashboard/")

    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'src="/static/dashboard/third_party/chart-4\.6\.1\.umd\.min\.[0-9a-f]{12}\.js"', page)
    assert re.search(r'src="/static/dashboard/dashboard\.[0-9a-f]{12}\.js"', page)
