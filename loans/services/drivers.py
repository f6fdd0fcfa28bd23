"""Drivers and their leases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from applications.models import Customer
from loanproject.core.errors import Conflict, NotFound
from loanproject.core.money import ZERO
from loanproject.core.rules import validated_save

from ..models import Driver, DriverStatus, Lease


@dataclass(frozen=True)
class DriverData:
    tlc_license_number: str
    full_name: str
    email: str = ""
    phone: str = ""
    customer_id: int | None = None


def _clean_licence(value: str) -> str:
    return value.strip().upper().replace(" ", "")


@transaction.atomic
def register_driver(*, data: DriverData) -> Driver:
    licence = _clean_licence(data.tlc_license_number)
    if data.customer_id is not None and not Customer.objects.filter(pk=data.customer_id).exists():
        raise NotFound("No such customer.")
    driver = Driver(
        tlc_license_number=licence,
        full_name=data.full_name.strip(),
        email=data.email,
        phone=data.phone,
        customer_id=data.customer_id,
    )
    validated_save(driver, force_insert=True)
    return driver


@transaction.atomic
def update_driver(
    *, driver_id: int, full_name: str, email: str, phone: str, status: str, customer_id: int | None
) -> Driver:
    """Contact details, status (a suspended or inactive driver gets no new loans) and customer link."""
    try:
        driver = Driver.objects.select_for_update().get(pk=driver_id)
    except Driver.DoesNotExist:
        raise NotFound("No such driver.") from None
    values = {
        "full_name": full_name.strip(),
        "email": email,
        "phone": phone,
        "status": status,
        "customer_id": customer_id,
    }
    changed = [name for name, value in values.items() if getattr(driver, name) != value]
    for name in changed:
        setattr(driver, name, values[name])
    if changed:
        validated_save(driver, update_fields=[*changed, "updated_at"])
    return driver


@transaction.atomic
def register_lease(
    *,
    driver_id: int,
    lease_number: str,
    medallion_number: str,
    start_date: date,
    end_date: date | None = None,
    vehicle_vin: str = "",
    vehicle_plate: str = "",
    weekly_fee: Decimal = ZERO,
) -> Lease:
    """A driver's lease; `weekly_fee` (>= 0) is billed by the weekly posting for each week it runs."""
    try:
        driver = Driver.objects.get(pk=driver_id)
    except Driver.DoesNotExist:
        raise NotFound("No such driver.") from None
    lease = Lease(
        driver=driver,
        lease_number=lease_number.strip(),
        medallion_number=medallion_number.strip().upper(),
        start_date=start_date,
        end_date=end_date,
        vehicle_vin=vehicle_vin.strip().upper(),
        vehicle_plate=vehicle_plate.strip().upper(),
        weekly_fee=weekly_fee,
    )
    validated_save(lease, force_insert=True)
    return lease


def ensure_can_borrow(driver: Driver) -> None:
    if driver.status != DriverStatus.ACTIVE:
        raise Conflict(f"{driver} is {driver.get_status_display().lower()}: no new loans.", code="driver_not_active")


def find_driver(driver_id: int) -> Driver:
    """The driver, or NotFound (a 404 in the API) for an unknown or malformed id."""
    try:
        return Driver.objects.get(pk=driver_id)
    except (Driver.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such driver.") from None
