import json
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from applications.models import Partner

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


def test_create_partner_prints_a_key_that_works(client):
    output = run("create_partner", "Acme Lending", "--code", "acme", "--email", "api@acme.example")

    key = output.split("API key: ")[1].split()[0]
    assert Partner.objects.get().code == "acme"
    assert client.get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_create_partner_is_audited_as_the_system_user():
    run("create_partner", "Acme Lending", "--code", "acme")

    entry = LogEntry.objects.get_for_object(Partner.objects.get()).get()

    assert entry.actor.username == "system"


def test_create_partner_refuses_a_duplicate_code():
    run("create_partner", "Acme", "--code", "acme")

    with pytest.raises(CommandError, match="already exists"):
        run("create_partner", "Acme again", "--code", "acme")

    assert Partner.objects.count() == 1


def test_create_partner_refuses_a_taken_name_with_a_message():
    run("create_partner", "Acme", "--code", "acme")

    with pytest.raises(CommandError, match=r"^name: Partner with this Name already exists\.$"):
        run("create_partner", "Acme", "--code", "acme-2")

    assert list(Partner.objects.values_list("code", flat=True)) == ["acme"]


def test_create_partner_refuses_a_bad_code_with_a_message():
    with pytest.raises(CommandError, match=r"^code: Enter a valid “slug”"):
        run("create_partner", "Bad Lending", "--code", "bad code!")

    assert Partner.objects.count() == 0
    assert not get_user_model().objects.filter(username__startswith="partner-").exists()


def test_create_partner_new_key_for_an_existing_partner():
    run("create_partner", "Acme", "--code", "acme")

    run("create_partner", "Acme", "--code", "acme", "--new-key")

    assert Partner.objects.get().api_keys.count() == 2


def test_setup_roles_reports_each_group():
    output = run("setup_roles")

    for role in ("Loan officer", "Loan manager", "Finance", "Auditor"):
        assert f"{role}: " in output


def test_rotate_keys_json_report():
    output = run("rotate_encryption_keys", "--dry-run", "--json")

    report = json.loads(output)
    assert report["active_key_id"] == "test2"
    assert report["dry_run"] is True
    assert "applications.Customer.pan" in report["stale_by_field"]
