"""`make run` shows applications in every status, a partner key that works and staff logins."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Partner
from loanproject.demo.seed import DEMO_API_KEY

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_demo_data_has_every_status_a_working_key_and_loads_once(client, settings, scoring_policy):
    settings.DEBUG = True

    first = run("load_demo_data", "--password", "demo-pass-123")
    second = run("load_demo_data", "--password", "demo-pass-456", "--url", "http://127.0.0.1:8001/")

    assert "Demo data loaded." in first
    assert "already present" in second
    assert "Password: demo-pass-456" in second
    assert "Admin:    http://127.0.0.1:8000/admin/" in first  # make run's default
    assert "Admin:    http://127.0.0.1:8001/admin/" in second and "API:      http://127.0.0.1:8001/api/docs/" in second
    statuses = set(LoanApplication.objects.values_list("status", flat=True))
    assert statuses == set(ApplicationStatus.values)
    assert LoanApplication.objects.count() == 13
    response = client.get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Api-Key {DEMO_API_KEY}")
    assert len(response.json()["results"]) == 10
    assert client.login(username="olivia.officer", password="demo-pass-456")


def test_demo_data_is_refused_outside_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        run("load_demo_data")

    assert Partner.objects.count() == 0
