"""The partner's request budget: a counter per partner and window, whatever key it calls with."""

from __future__ import annotations

import pytest

from .conftest import _client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def test_a_partner_over_its_rate_is_429_until_the_window_ends(partner, other_partner, settings, monkeypatch):
    settings.PARTNER_THROTTLE_RATE = "3/min"
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.timer", lambda self: 600.0 * 1000 + 45)
    first_key, second_key, other = _client_for(partner), _client_for(partner), _client_for(other_partner)

    statuses = [client.get(URL).status_code for client in (first_key, second_key, first_key, second_key)]
    refused = first_key.get(URL)
    other_partner_status = other.get(URL).status_code
    monkeypatch.setattr("rest_framework.throttling.SimpleRateThrottle.timer", lambda self: 600.0 * 1000 + 60)
    next_window = second_key.get(URL).status_code

    assert statuses == [200, 200, 200, 429]
    assert (refused.status_code, refused["Retry-After"]) == (429, "15")
    assert (other_partner_status, next_window) == (200, 200)
