from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from .factories import PartnerFactory, issue_key


class PartnerClient(APIClient):
    partner = None


def _client_for(partner) -> PartnerClient:
    client = PartnerClient()
    client.partner = partner
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")
    return client


@pytest.fixture
def partner(db):
    return PartnerFactory(name="Acme Lending", code="acme")


@pytest.fixture
def other_partner(db):
    return PartnerFactory(name="Rival Credit", code="rival")


@pytest.fixture
def partner_client(partner) -> PartnerClient:
    return _client_for(partner)


@pytest.fixture
def other_partner_client(other_partner) -> PartnerClient:
    return _client_for(other_partner)
