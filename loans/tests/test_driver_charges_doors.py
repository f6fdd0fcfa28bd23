"""The driver charges' doors: the import command, the admin (upload, queue, adjustments, the
driver's action) and the staff API, each with its role's permission."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from applications.tests.factories import StaffUserFactory
from ledger.models import JournalEntry, OpenItem
from loans.models import ChargeImport, DriverAdjustment, ImportedCharge, ImportedChargeStatus

from .factories import DriverFactory, LeaseFactory
from .test_admin import queries_for
from .test_api import client_for

pytestmark = pytest.mark.django_db

PVB_CSV = "external_id,date,plate,amount,description\nP-1,2026-01-07,T123456C,65.00,No standing\nP-2,2026-01-07,NOBODY,115.00,\nP-3,2026-13-01,T123456C,10.00,\n"


def upload(text: str = PVB_CSV, name: str = "pvb.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def staff_client(role: str) -> Client:
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


# --- Command ---------------------------------------------------------------------------------------


def test_the_command_imports_a_file_reports_bad_lines_and_exits_1(tmp_path):
    LeaseFactory(vehicle_plate="T123456C")
    path = tmp_path / "pvb.csv"
    path.write_text(PVB_CSV)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="1 row"):
        call_command("import_driver_charges", "pvb", str(path), stdout=out, stderr=err, verbosity=0)

    record = ChargeImport.objects.get()
    assert (
        f"Import #{record.pk} (PVB, pvb.csv): 3 rows read, 1 booked, 1 unmatched (queued), 0 already imported, 1 refused."
        in out.getvalue()
    )
    assert "line 4: date '2026-13-01' is not a date (YYYY-MM-DD)." in err.getvalue()
    assert record.started_by.username == "system"


def test_the_command_refuses_a_missing_file_and_documents_itself(tmp_path, capsys):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_driver_charges", "ezpass", str(tmp_path / "none.csv"))
    with pytest.raises(SystemExit):
        call_command("import_driver_charges", "--help")
    assert "external_id" in capsys.readouterr().out
    assert not ChargeImport.objects.exists()


# --- Staff API -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, expected",
    [
        ("Finance", {"import": 201, "queue": 200, "assign": 200, "adjust": 201}),
        ("Loan manager", {"import": 403, "queue": 200, "assign": 403, "adjust": 403}),
        ("Auditor", {"import": 403, "queue": 200, "assign": 403, "adjust": 403}),
        ("Loan officer", {"import": 403, "queue": 403, "assign": 403, "adjust": 403}),
    ],
)
def test_each_role_gets_exactly_its_charge_permissions(role, expected):
    client = client_for(role)
    driver = DriverFactory()
    queued = ImportedCharge.objects.create(
        kind="PVB", external_id="Q-1", charge_date="2026-01-07", amount=Decimal("9.00")
    )

    got = {
        "import": client.post(
            "/api/v1/driver-charges/imports/", {"kind": "PVB", "file": upload()}, format="multipart"
        ).status_code,
        "queue": client.get("/api/v1/driver-charges/", {"status": "unmatched"}).status_code,
        "assign": client.post(
            f"/api/v1/driver-charges/{queued.pk}/assignment/", {"driver": driver.pk}, format="json"
        ).status_code,
        "adjust": client.post(
            f"/api/v1/drivers/{driver.pk}/adjustments/",
            {"kind": "charge", "amount": "10.00", "reason": "Keys"},
            format="json",
        ).status_code,
    }

    assert got == expected
    assert ChargeImport.objects.count() == (1 if expected["import"] == 201 else 0)
    assert DriverAdjustment.objects.count() == (1 if expected["adjust"] == 201 else 0)


def test_the_api_imports_a_file_and_answers_its_counts_and_bad_lines():
    LeaseFactory(vehicle_plate="T123456C")

    response = client_for("Finance").post(
        "/api/v1/driver-charges/imports/", {"kind": "PVB", "file": upload()}, format="multipart"
    )

    assert response.status_code == 201
    body = response.json()
    assert {
        k: body[k] for k in ("kind", "source_name", "rows_read", "booked", "unmatched", "duplicates", "rejected")
    } == {
        "kind": "PVB",
        "source_name": "pvb.csv",
        "rows_read": 3,
        "booked": 1,
        "unmatched": 1,
        "duplicates": 0,
        "rejected": 1,
    }
    assert body["errors"] == [{"line": 4, "errors": ["date '2026-13-01' is not a date (YYYY-MM-DD)."]}]


def test_bad_api_input_is_a_400_with_field_messages_and_changes_nothing():
    client, driver = client_for("Finance"), DriverFactory()

    bad_kind = client.post("/api/v1/driver-charges/imports/", {"kind": "CAR", "file": upload()}, format="multipart")
    no_columns = client.post(
        "/api/v1/driver-charges/imports/", {"kind": "EZPASS", "file": upload("a,b\n1,2\n")}, format="multipart"
    )
    no_reason = client.post(
        f"/api/v1/drivers/{driver.pk}/adjustments/", {"kind": "charge", "amount": "10.00", "reason": " "}, format="json"
    )
    float_amount = client.post(
        f"/api/v1/drivers/{driver.pk}/adjustments/",
        {"kind": "credit", "amount": "10.555", "reason": "x"},
        format="json",
    )

    assert (bad_kind.status_code, no_columns.status_code, no_reason.status_code, float_amount.status_code) == (
        400,
        400,
        400,
        400,
    )
    assert bad_kind.json()["error"]["fields"] == {"kind": ['"CAR" is not a valid choice.']}
    assert no_columns.json()["error"]["message"] == "The file lacks the column(s): external_id, date, amount, plate."
    assert no_reason.json()["error"]["fields"] == {"reason": ["This field may not be blank."]}
    assert list(float_amount.json()["error"]["fields"]) == ["amount"]
    assert not ImportedCharge.objects.exists() and not DriverAdjustment.objects.exists()
    assert not JournalEntry.objects.exists()


def test_the_api_assigns_a_queued_charge_once_and_lists_the_queue_in_constant_queries(django_assert_num_queries):
    client, driver = client_for("Finance"), DriverFactory()
    LeaseFactory(vehicle_plate="T123456C")
    client.post("/api/v1/driver-charges/imports/", {"kind": "PVB", "file": upload()}, format="multipart")
    queued = ImportedCharge.objects.get(external_id="P-2")

    with django_assert_num_queries(4) as one:  # token, user, permissions, the page
        page = client.get("/api/v1/driver-charges/", {"status": "unmatched"})
    for index in range(10):
        ImportedCharge.objects.create(
            kind="PVB", external_id=f"Q-{index}", charge_date="2026-01-07", amount=Decimal("1.00")
        )
    with django_assert_num_queries(len(one)):
        assert len(client.get("/api/v1/driver-charges/", {"status": "unmatched"}).json()["results"]) == 11
    assigned = client.post(f"/api/v1/driver-charges/{queued.pk}/assignment/", {"driver": driver.pk}, format="json")
    again = client.post(f"/api/v1/driver-charges/{queued.pk}/assignment/", {"driver": driver.pk}, format="json")

    assert [row["external_id"] for row in page.json()["results"]] == ["P-2"]
    assert ImportedCharge.objects.filter(status="unmatched").count() == 10  # P-2 was assigned
    assert (assigned.status_code, assigned.json()["status"], assigned.json()["amount"]) == (200, "booked", "115.00")
    assert again.status_code == 409
    assert OpenItem.objects.filter(reference="PVB P-2").count() == 1


def test_an_adjustment_with_an_idempotency_key_is_booked_once():
    client, driver = client_for("Finance"), DriverFactory()
    body = {"kind": "charge", "amount": "25.00", "reason": "Late key return", "effective_on": "2026-01-05"}

    first = client.post(f"/api/v1/drivers/{driver.pk}/adjustments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(f"/api/v1/drivers/{driver.pk}/adjustments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, first.json()["amount"], first.json()["reason"]) == (201, "25.00", "Late key return")
    assert again.json()["id"] == first.json()["id"]
    assert DriverAdjustment.objects.count() == 1 and JournalEntry.objects.filter(source="loans.adjustment").count() == 1


# --- Admin -----------------------------------------------------------------------------------------


def test_finance_uploads_a_file_in_the_admin():
    LeaseFactory(vehicle_plate="T123456C")
    client = staff_client("Finance")

    response = client.post(reverse("admin:loans_chargeimport_add"), {"kind": "PVB", "file": upload()})

    assert response.status_code == 302, response.content[:2000]
    record = ChargeImport.objects.get()
    assert (record.booked, record.unmatched, record.rejected) == (1, 1, 1)


def test_finance_resolves_the_queue_in_the_admin_and_the_queue_costs_the_same_for_many_rows():
    client, driver = staff_client("Finance"), DriverFactory()
    for index in range(2):
        ImportedCharge.objects.create(
            kind="EZPASS", external_id=f"E-{index}", charge_date="2026-01-05", amount=Decimal("5.00")
        )
    url = reverse("admin:loans_importedcharge_changelist") + "?status=unmatched"
    queries_for(client, url)
    few = queries_for(client, url)
    for index in range(2, 14):
        ImportedCharge.objects.create(
            kind="EZPASS", external_id=f"E-{index}", charge_date="2026-01-05", amount=Decimal("5.00")
        )
    assert queries_for(client, url) == few
    queued = ImportedCharge.objects.get(external_id="E-0")

    response = client.post(reverse("admin:loans_importedcharge_change", args=[queued.pk]), {"driver": driver.pk})

    assert response.status_code == 302, response.content[:2000]
    queued.refresh_from_db()
    assert (queued.status, queued.driver_id) == (ImportedChargeStatus.BOOKED, driver.pk)
    assert OpenItem.objects.get(entry=queued.entry).amount == Decimal("5.00")


def test_finance_adds_a_credit_in_the_admin_and_a_blank_reason_is_refused():
    client, driver = staff_client("Finance"), DriverFactory()
    url = reverse("admin:loans_driveradjustment_add")

    refused = client.post(url, {"driver": driver.pk, "kind": "credit", "amount": "20.00", "reason": "  "})
    booked = client.post(url, {"driver": driver.pk, "kind": "credit", "amount": "20.00", "reason": "Goodwill"})

    assert refused.status_code == 200 and DriverAdjustment.objects.filter(reason="").count() == 0
    assert booked.status_code == 302
    assert list(DriverAdjustment.objects.values_list("kind", "amount", "reason")) == [
        ("credit", Decimal("20.00"), "Goodwill")
    ]


def test_the_driver_action_opens_the_adjustment_form_for_finance_only():
    driver = DriverFactory()
    data = {"action": "add_adjustment", "_selected_action": [driver.pk]}

    finance = staff_client("Finance").post(reverse("admin:loans_driver_changelist"), data)
    manager = staff_client("Loan manager").post(reverse("admin:loans_driver_changelist"), data)

    assert finance.status_code == 302 and finance["Location"].endswith(
        f"/loans/driveradjustment/add/?driver={driver.pk}"
    )
    assert manager.status_code in (200, 302) and "driveradjustment" not in manager.get("Location", "")
