"""Tolls, parking and TLC tickets imported from files; MISC charges and credits; the driver's
credit pays new charges of every category."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ledger.models import Account, Category, JournalEntry, OpenItem, OpenItemStatus
from ledger.selectors import credit_balance
from loanproject.core.errors import Conflict, DomainError
from loans import services
from loans.models import AdjustmentKind, ChargeImport, DriverAdjustment, ImportedCharge, ImportedChargeStatus

from .conftest import week
from .factories import SUNDAY, DriverFactory, LeaseFactory, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db


def csv_file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def run_import(kind: str, text: str, **options) -> ChargeImport:
    return services.import_charges(kind=kind, rows=services.read_csv(kind, csv_file(text)), **options)


EZPASS_CSV = """external_id,date,plate,amount,description
EZ-1,2026-01-05,T123456C,6.94,Verrazzano Bridge
EZ-2,2026-01-05,t123456c,  11.19 ,Lincoln Tunnel
EZ-3,2026-01-06,NOBODY1,6.94,Holland Tunnel
EZ-4,not-a-date,T123456C,6.94,
EZ-5,2026-01-06,T123456C,-3.00,
EZ-2,2026-01-05,T123456C,11.19,the same toll again
,2026-01-06,T123456C,1.00,
"""


def test_an_ezpass_file_books_matched_tolls_queues_the_rest_and_reports_bad_lines():
    lease = LeaseFactory(vehicle_plate="T123456C")
    LeaseFactory(vehicle_plate="T123456C", start_date=date(2024, 1, 1), end_date=date(2025, 5, 31))  # ended before

    record = run_import("EZPASS", EZPASS_CSV, source_name="ezpass.csv", chunk_size=3)

    assert (record.rows_read, record.booked, record.unmatched, record.duplicates, record.rejected) == (7, 2, 1, 1, 3)
    assert [error["line"] for error in record.errors] == [5, 6, 8]
    assert "not a date" in record.errors[0]["errors"][0]
    booked = ImportedCharge.objects.filter(status=ImportedChargeStatus.BOOKED).order_by("external_id")
    assert list(booked.values_list("external_id", "amount", "driver_id")) == [
        ("EZ-1", Decimal("6.94"), lease.driver_id),
        ("EZ-2", Decimal("11.19"), lease.driver_id),
    ]
    entry = booked[0].entry
    assert (entry.idempotency_key, entry.source, entry.entry_date) == (
        "loans.charge:EZPASS:EZ-1",
        "loans.charge",
        date(2026, 1, 5),
    )
    receivable = Account.objects.get(party_id=str(lease.driver_id), category=Category.EZPASS)
    assert sorted(entry.postings.values_list("account__code", "debit", "credit")) == sorted(
        [(receivable.code, Decimal("6.94"), Decimal("0.00")), ("2100", Decimal("0.00"), Decimal("6.94"))]
    )
    items = OpenItem.objects.filter(account=receivable).order_by("reference")
    assert list(items.values_list("reference", "amount", "outstanding", "due_date")) == [
        ("EZPASS EZ-1", Decimal("6.94"), Decimal("6.94"), date(2026, 1, 5)),
        ("EZPASS EZ-2", Decimal("11.19"), Decimal("11.19"), date(2026, 1, 5)),
    ]
    queued = ImportedCharge.objects.get(status=ImportedChargeStatus.UNMATCHED)
    assert (queued.external_id, queued.driver_id, queued.entry_id) == ("EZ-3", None, None)


def test_importing_the_same_file_again_books_nothing_twice():
    LeaseFactory(vehicle_plate="T123456C")
    run_import("EZPASS", EZPASS_CSV)
    entries = JournalEntry.objects.filter(source="loans.charge").count()

    again = run_import("EZPASS", EZPASS_CSV)

    assert (again.rows_read, again.booked, again.unmatched, again.duplicates, again.rejected) == (7, 0, 0, 4, 3)
    assert JournalEntry.objects.filter(source="loans.charge").count() == entries == 2
    assert ImportedCharge.objects.count() == 3


def test_tlc_tickets_match_by_licence_or_medallion_and_pvb_by_plate():
    by_licence = DriverFactory(tlc_license_number="5123456")
    by_medallion = LeaseFactory(medallion_number="7J42")
    by_plate = LeaseFactory(vehicle_plate="Y204711C")
    LeaseFactory(medallion_number="2B22")
    LeaseFactory(medallion_number="2B22")  # two leases of one medallion that day: ambiguous

    tlc = run_import(
        "TLC",
        "external_id,date,licence,medallion,amount,description\n"
        "T-1,2026-01-05,5123456,,250.00,Refusal\n"
        "T-2,2026-01-05,,7j42,100.00,Unsafe driving\n"
        "T-3,2026-01-05,,2B22,50.00,Ambiguous\n"
        "T-4,2026-01-05,,,50.00,No identifier\n",
    )
    pvb = run_import("PVB", "external_id,date,plate,amount\n8801234567,2026-01-07,Y204711C,115.00\n")

    assert (tlc.booked, tlc.unmatched, tlc.rejected, pvb.booked) == (2, 1, 1, 1)
    assert tlc.errors == [{"line": 5, "errors": ["A TLC row names its driver by licence or medallion."]}]
    drivers = dict(ImportedCharge.objects.values_list("external_id", "driver_id"))
    assert drivers == {
        "T-1": by_licence.pk,
        "T-2": by_medallion.driver_id,
        "T-3": None,
        "8801234567": by_plate.driver_id,
    }
    assert OpenItem.objects.get(reference="PVB 8801234567").account.category == Category.PVB
    assert OpenItem.objects.get(reference="TLC T-1").account.category == Category.TLC


def test_a_file_without_its_columns_is_refused_whole():
    with pytest.raises(DomainError, match="plate"):
        run_import("EZPASS", "external_id,date,amount\nEZ-1,2026-01-05,1.00\n")
    with pytest.raises(DomainError, match="Choose one of EZPASS, PVB, TLC"):
        run_import("CAR", "external_id,date,amount,plate\n")
    assert not ImportedCharge.objects.exists()


def test_staff_resolve_a_queued_charge_by_assigning_its_driver():
    driver = DriverFactory()
    run_import("PVB", "external_id,date,plate,amount\nP-1,2026-01-07,UNKNOWN,65.00\n")
    queued = ImportedCharge.objects.get()
    staff = StaffUserFactory()

    charge = services.assign_imported_charge(charge_id=queued.pk, driver_id=driver.pk, assigned_by=staff)

    assert (charge.status, charge.driver_id) == (ImportedChargeStatus.BOOKED, driver.pk)
    assert charge.entry.idempotency_key == "loans.charge:PVB:P-1" and charge.entry.created_by == staff
    assert OpenItem.objects.get(entry=charge.entry).amount == Decimal("65.00")
    with pytest.raises(Conflict):
        services.assign_imported_charge(charge_id=queued.pk, driver_id=driver.pk)
    assert JournalEntry.objects.filter(source="loans.charge").count() == 1


def test_the_database_refuses_a_second_charge_per_external_id_and_a_booked_charge_without_entry():
    LeaseFactory(vehicle_plate="T123456C")
    run_import("EZPASS", "external_id,date,plate,amount\nEZ-1,2026-01-05,T123456C,6.94\n")
    charge = ImportedCharge.objects.get()

    with pytest.raises(IntegrityError, match="imported_charge_once_per_external_id"), transaction.atomic():
        ImportedCharge.objects.create(kind="EZPASS", external_id="EZ-1", charge_date=SUNDAY, amount=Decimal("1.00"))
    with pytest.raises(IntegrityError, match="imported_charge_booked_iff_entry"), transaction.atomic():
        ImportedCharge.objects.filter(pk=charge.pk).update(entry=None)
    with pytest.raises(IntegrityError, match="imported_charge_amount_positive"), transaction.atomic():
        ImportedCharge.objects.create(kind="PVB", external_id="P-0", charge_date=SUNDAY, amount=Decimal("0.00"))

    assert ImportedCharge.objects.count() == 1
    charge.refresh_from_db()
    assert charge.entry_id is not None


# --- MISC charges and credits ---------------------------------------------------------------------


def test_a_misc_charge_is_one_misc_item_with_its_reason():
    driver, staff = DriverFactory(), StaffUserFactory()

    adjustment = services.add_driver_adjustment(
        driver_id=driver.pk,
        kind=AdjustmentKind.CHARGE,
        amount=Decimal("45.00"),
        reason="Car wash",
        created_by=staff,
        effective_on=SUNDAY,
        idempotency_key="req-1",
    )
    replay = services.add_driver_adjustment(
        driver_id=driver.pk,
        kind=AdjustmentKind.CHARGE,
        amount=Decimal("45.00"),
        reason="Car wash",
        created_by=staff,
        idempotency_key="req-1",
    )

    assert replay.pk == adjustment.pk and DriverAdjustment.objects.count() == 1
    item = OpenItem.objects.get(entry=adjustment.entry)
    assert (item.account.category, item.amount, item.outstanding, item.due_date) == (
        Category.MISC,
        Decimal("45.00"),
        Decimal("45.00"),
        SUNDAY,
    )
    assert adjustment.entry.description == f"MISC charge for {driver.full_name}: Car wash"
    assert sorted(adjustment.entry.postings.values_list("account__code", "debit", "credit"))[0] == (
        "4900",
        Decimal("0.00"),
        Decimal("45.00"),
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_charge_without_a_reason_is_refused_and_books_nothing(reason):
    driver = DriverFactory()

    with pytest.raises(ValidationError) as refused:
        services.add_driver_adjustment(
            driver_id=driver.pk, kind="charge", amount=Decimal("10.00"), reason=reason, created_by=StaffUserFactory()
        )

    assert "reason" in refused.value.message_dict
    assert not DriverAdjustment.objects.exists() and not JournalEntry.objects.filter(source="loans.adjustment").exists()


def test_a_credit_pays_open_items_in_allocation_order_and_keeps_the_rest(settings):
    settings.LEDGER_PAYMENT_ALLOCATION_ORDER = ["LOANS", "LEASE", "EZPASS", "PVB", "TLC", "MISC"]
    lease = LeaseFactory(weekly_fee=Decimal("300.00"))
    staff = StaffUserFactory()
    services.add_driver_adjustment(
        driver_id=lease.driver_id, kind="charge", amount=Decimal("50.00"), reason="Keys", created_by=staff
    )
    services.post_weekly_installments(**week(SUNDAY))

    services.add_driver_adjustment(
        driver_id=lease.driver_id, kind="credit", amount=Decimal("320.00"), reason="Goodwill", created_by=staff
    )

    lease_item = OpenItem.objects.get(entry__source="loans.lease")
    misc_item = OpenItem.objects.get(account__category=Category.MISC)
    assert (lease_item.outstanding, lease_item.status) == (Decimal("0.00"), OpenItemStatus.CLOSED)
    assert (misc_item.outstanding, misc_item.status) == (Decimal("30.00"), OpenItemStatus.OPEN)
    credit = Account.objects.get(party_id=str(lease.driver_id), category="", type="liability")
    assert credit_balance(account=credit) == Decimal("0.00")


def test_the_drivers_credit_pays_new_charges_of_every_category():
    lease = LeaseFactory(vehicle_plate="T123456C", medallion_number="7J42", weekly_fee=Decimal("300.00"))
    make_loan(principal="400.00", weeks=4, lease=lease)  # 100.00 a week
    DriverFactory(tlc_license_number="5999999")
    services.record_driver_payment(
        driver_id=lease.driver_id, amount=Decimal("1000.00"), received_on=SUNDAY, idempotency_key="bank-1"
    )
    staff = StaffUserFactory()

    services.post_weekly_installments(**week(SUNDAY))  # LOANS 100.00 + LEASE 300.00
    run_import("EZPASS", "external_id,date,plate,amount\nEZ-1,2026-01-05,T123456C,6.94\n")
    run_import("PVB", "external_id,date,plate,amount\nP-1,2026-01-05,T123456C,65.00\n")
    run_import("TLC", "external_id,date,medallion,amount\nT-1,2026-01-05,7J42,25.00\n")
    services.add_driver_adjustment(
        driver_id=lease.driver_id, kind="charge", amount=Decimal("3.06"), reason="Fuel", created_by=staff
    )

    items = OpenItem.objects.filter(account__party_id=str(lease.driver_id))
    assert sorted(items.values_list("account__category", "amount", "outstanding")) == [
        (Category.EZPASS, Decimal("6.94"), Decimal("0.00")),
        (Category.LEASE, Decimal("300.00"), Decimal("0.00")),
        (Category.LOANS, Decimal("100.00"), Decimal("0.00")),
        (Category.MISC, Decimal("3.06"), Decimal("0.00")),
        (Category.PVB, Decimal("65.00"), Decimal("0.00")),
        (Category.TLC, Decimal("25.00"), Decimal("0.00")),
    ]
    credit = Account.objects.get(party_id=str(lease.driver_id), category="", type="liability")
    assert credit_balance(account=credit) == Decimal("500.00")
    # and the next week's charges take the rest, oldest first
    services.post_weekly_installments(**week(SUNDAY + timedelta(days=7)))
    assert credit_balance(account=credit) == Decimal("100.00")
