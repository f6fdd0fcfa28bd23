import pytest

from applications.tests.factories import PartnerFactory, issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth():
    return {"HTTP_AUTHORIZATION": f"Api-Key {issue_key(PartnerFactory())}"}


def test_method_not_allowed_has_the_common_shape(client, auth):
    response = client.delete("/api/v1/applications/", **auth)

    assert response.status_code == 405
    assert response.json() == {
        "error": {"status": 405, "code": "method_not_allowed", "message": 'Method "DELETE" not allowed.', "fields": {}}
    }


def test_unsupported_media_type_has_the_common_shape(client, auth):
    response = client.post("/api/v1/applications/", data="a=b", content_type="text/plain", **auth)

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_nan_is_not_a_number(client, auth):
    response = client.post(
        "/api/v1/applications/", data='{"requested_amount": NaN}', content_type="application/json", **auth
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_a_non_object_body_is_a_validation_error(client, auth):
    response = client.post("/api/v1/applications/", data="[1, 2]", content_type="application/json", **auth)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
