import pytest
from django.contrib.auth.models import Group

from loanproject.core.roles import sync_staff_roles

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_creates_the_four_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Loan officer", "Loan manager", "Finance", "Auditor"}
    assert "applications.change_loanapplication" in perms("Loan officer")
    assert "applications.add_partner" not in perms("Loan officer")


def test_the_auditor_can_only_view():
    auditor = perms("Auditor")

    assert "applications.view_loanapplication" in auditor
    assert "auditlog.view_logentry" in auditor
    assert all(code.split(".")[1].startswith("view_") for code in auditor)


def test_sync_is_idempotent_and_removes_permissions_no_longer_listed():
    Group.objects.get(name="Finance").permissions.clear()
    sync_staff_roles(roles={"Finance": ["applications.view_customer"]})

    counts = sync_staff_roles(roles={"Finance": ["applications.view_customer"]})

    assert counts == {"Finance": 1}
    assert perms("Finance") == {"applications.view_customer"}
