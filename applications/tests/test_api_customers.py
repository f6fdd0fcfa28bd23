import pytest

from applications import services
from applications.models import Customer

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"


def test_list_shows_only_own_customers_with_masked_pan(partner_client, partner):
    mine = CustomerFactory(partner=partner, clear_pan="ABCDE1234F")
    CustomerFactory()

    body = partner_client.get(URL).json()

    assert [row["id"] for row in body["results"]] == [mine.pk]
    assert body["results"][0]["pan_masked"] == "XXXXXX234F"
    assert "pan" not in body["results"][0]


def test_patch_updates_contact_details_and_pan(partner_client, partner):
    customer = CustomerFactory(partner=partner, clear_pan="ABCDE1234F")

    response = partner_client.patch(
        f"{URL}{customer.pk}/", {"email": "new@example.com", "pan": "zzzzz9999z"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["pan_masked"] == "XXXXXX999Z"
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    assert customer.pan_hash == services.pan_blind_index("ZZZZZ9999Z")


def test_patch_validates_fields(partner_client, partner):
    customer = CustomerFactory(partner=partner, email="old@example.com")

    response = partner_client.patch(f"{URL}{customer.pk}/", {"email": "nope", "pan": "1"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "pan"}
    customer.refresh_from_db()
    assert customer.email == "old@example.com"


def test_another_partners_customer_is_404(partner_client):
    theirs = CustomerFactory(full_name="Theirs")

    read = partner_client.get(f"{URL}{theirs.pk}/")
    write = partner_client.patch(f"{URL}{theirs.pk}/", {"full_name": "Mine now"}, format="json")
    junk = partner_client.patch(f"{URL}abc/", {"full_name": "x"}, format="json")

    assert (read.status_code, write.status_code, junk.status_code) == (404, 404, 404)
    assert Customer.objects.get(pk=theirs.pk).full_name == "Theirs"


def test_put_is_not_offered(partner_client, partner):
    customer = CustomerFactory(partner=partner)

    assert partner_client.put(f"{URL}{customer.pk}/", {}, format="json").status_code == 405
