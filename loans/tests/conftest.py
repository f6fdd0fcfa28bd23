from __future__ import annotations

from datetime import date, timedelta

import pytest

from .factories import SUNDAY


def week(start: date = SUNDAY) -> dict:
    """Keyword arguments of a posting for the week starting on `start`."""
    return {"period_start": start, "period_end": start + timedelta(days=6)}


@pytest.fixture
def finance_user(db):
    from django.contrib.auth.models import Group

    from applications.tests.factories import StaffUserFactory

    user = StaffUserFactory(username="fiona")
    user.groups.add(Group.objects.get(name="Finance"))
    return user
