"""Driver loans: booking (with the disbursement entry), cancelling, closing and reopening, undoing a
posting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from applications import services as applications
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from ledger import services as ledger
from ledger.inputs import Charge, Leg
from ledger.models import JournalEntry, OpenItem, OpenItemStatus
from loanproject.core import topics
from loanproject.core.audit import log_bulk_changes
from loanproject.core.errors import Conflict, DomainError, IllegalTransition, NotFound
from loanproject.core.money import to_cents, to_decimal
from loanproject.core.outbox import publish_event
from loanproject.core.rules import validated_save

from .. import accounts
from ..locks import lock_installment, lock_installments_of, lock_loan
from ..models import (
    DISBURSEMENT_SOURCE,
    MAX_INTEREST_RATE,
    ORIGINATION_FEE_SOURCE,
    POSTING_SOURCE,
    Driver,
    DriverLoan,
    FeeCollection,
    Installment,
    InstallmentStatus,
    Lease,
    LoanNumberCounter,
    LoanPayoff,
    LoanStatus,
    ScheduleVersion,
    ScheduleVersionKind,
)
from ..periods import business_today, is_sunday, validate_business_date
from ..schedules import Frequency, Method
from .delinquency import classify_loans
from .drivers import ensure_can_borrow
from .products import LoanQuote, LoanTerms, bookable_product, late_fee_terms, product_rate, quote_loan

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _next_loan_number(*, year: int) -> str:
    """DL-YYYY-NNNN from the year's counter row, inside the caller's transaction.

    One upsert increments and returns the counter: a concurrent booking waits on the row lock
    until this transaction ends, so numbers never repeat; a rollback gives the number back.
    """
    table = LoanNumberCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last_number) VALUES (%s, 1) "
            f"ON CONFLICT (year) DO UPDATE SET last_number = {table}.last_number + 1 RETURNING last_number",
            [year],
        )
        (number,) = cursor.fetchone()
    return f"DL-{year}-{number:04d}"


def _interest_rate(value: Decimal | str | None) -> Decimal:
    rate = to_decimal(settings.LOANS_DEFAULT_INTEREST_RATE if value is None else value)
    if not Decimal(0) <= rate <= MAX_INTEREST_RATE:
        raise ValidationError(
            {"annual_interest_rate": [f"The annual rate must be between 0 and {MAX_INTEREST_RATE} %, got {rate}."]}
        )
    return rate


def _book_disbursement(
    *, quote: LoanQuote, loan_number: str, driver: Driver, disbursed_on: date, created_by: User
) -> JournalEntry:
    """Dr principal not yet billed / Cr cash; a fee deducted from the disbursement is a third leg
    (Cr fee income): the driver receives less cash and still owes the whole principal."""
    principal = quote.terms.principal
    legs = [
        Leg(account=accounts.principal_account(), debit=principal),
        Leg(account=accounts.cash_account(), credit=quote.disbursed),
    ]
    if quote.origination_fee_collection == FeeCollection.DEDUCTED:
        legs.append(Leg(account=accounts.origination_fee_income_account(), credit=quote.origination_fee))
    return ledger.post_entry(
        idempotency_key=f"{DISBURSEMENT_SOURCE}:{loan_number}",
        entry_date=disbursed_on,
        description=f"Disbursement of {loan_number} to {driver.full_name}",
        source=DISBURSEMENT_SOURCE,
        legs=legs,
        created_by=created_by,
    )


def _bill_origination_fee(
    *, quote: LoanQuote, loan_number: str, receivable_account_id: int, billed_on: date, created_by: User
) -> int:
    """The fee billed with the first installment: its own entry (Dr the driver's LOANS receivable
    / Cr fee income) and open item, due with installment 1, booked with the loan (exactly once:
    its key names the loan). Returns the entry id."""
    key = f"{ORIGINATION_FEE_SOURCE}:{loan_number}"
    booked = ledger.post_charges(
        charges=[
            Charge(
                idempotency_key=key,
                entry_date=billed_on,
                due_date=quote.schedule[0].due_date,
                description=f"{loan_number} origination fee",
                reference=f"{loan_number} fee",
                receivable_account_id=receivable_account_id,
                credits=((accounts.origination_fee_income_account().pk, quote.origination_fee),),
            )
        ],
        source=ORIGINATION_FEE_SOURCE,
        created_by=created_by,
    )
    return booked[key].entry_id


@transaction.atomic
def create_driver_loan(
    *,
    driver_id: int,
    lease_id: int,
    principal: Decimal,
    start_week: date,
    installment_count: int,
    purpose: str,
    created_by: User,
    annual_interest_rate: Decimal | None = None,
    frequency: str = Frequency.WEEKLY,
    method: str = Method.ANNUITY,
    source_application: LoanApplication | None = None,
    disbursed_on: date | None = None,
    product_id: int | None = None,
) -> DriverLoan:
    """Book a loan with its schedule and the disbursement entry (Dr principal not yet billed,
    Cr cash), and announce it (`loan.booked`).

    From a product (`product_id`, a current version): the terms must lie within its ranges
    (default rate: its lowest), the schedule follows its rounding rules and grace, the loan keeps
    a copy of those terms, and its origination fee is booked: deducted from the cash disbursed,
    or billed as its own entry and open item due with the first installment."""
    principal = to_cents(principal)
    if principal <= 0:
        raise ValidationError({"principal": ["The principal must be positive."]})
    validate_business_date(start_week, field="start_week")
    if not is_sunday(start_week):
        raise ValidationError({"start_week": [f"{start_week} is a {start_week:%A}; loans start on a Sunday."]})
    disbursed_on = validate_business_date(disbursed_on or business_today(), field="disbursed_on")
    product = bookable_product(product_id) if product_id is not None else None
    rate = _interest_rate(product_rate(product, annual_interest_rate))
    try:
        driver = Driver.objects.get(pk=driver_id)
        lease = Lease.objects.get(pk=lease_id)
    except (Driver.DoesNotExist, Lease.DoesNotExist):
        raise NotFound("No such driver or lease.") from None
    ensure_can_borrow(driver)
    if lease.driver_id != driver.pk:
        raise ValidationError({"lease": [f"{lease} belongs to another driver."]})
    terms = LoanTerms(
        principal=principal,
        annual_interest_rate=rate,
        installment_count=installment_count,
        start_week=start_week,
        frequency=frequency,
        method=method,
    )
    quote = quote_loan(terms=terms, product=product)
    schedule = quote.schedule
    # The year of the business day (New York), like every other date of the loan.
    loan_number = _next_loan_number(year=business_today().year)
    disbursement = _book_disbursement(
        quote=quote, loan_number=loan_number, driver=driver, disbursed_on=disbursed_on, created_by=created_by
    )
    receivable = accounts.driver_loans_receivable(driver)
    fee_entry_id = None
    if quote.origination_fee_collection == FeeCollection.FIRST_INSTALLMENT:
        fee_entry_id = _bill_origination_fee(
            quote=quote,
            loan_number=loan_number,
            receivable_account_id=receivable.pk,
            billed_on=disbursed_on,
            created_by=created_by,
        )
    rounding = quote.rounding
    loan = DriverLoan(
        loan_number=loan_number,
        driver=driver,
        lease=lease,
        principal=principal,
        annual_interest_rate=rate,
        frequency=frequency,
        method=method,
        start_week=start_week,
        installment_count=installment_count,
        purpose=purpose.strip(),
        created_by=created_by,
        source_application=source_application,
        receivable_account=receivable,
        disbursement_entry=disbursement,
        product=product,
        currency_digits=rounding.currency_digits,
        in_multiples_of=rounding.in_multiples_of,
        installment_ceiling=rounding.installment_ceiling,
        flat_interest_last_absorbs=rounding.flat_interest_last_absorbs,
        principal_grace_periods=quote.principal_grace_periods,
        origination_fee=quote.origination_fee,
        origination_fee_collection=quote.origination_fee_collection,
        origination_fee_entry_id=fee_entry_id,
        **late_fee_terms(product),
    )
    validated_save(loan, force_insert=True)
    version = ScheduleVersion(
        loan=loan,
        number=1,
        kind=ScheduleVersionKind.BOOKED,
        from_sequence=1,
        balance=principal,
        annual_interest_rate=rate,
        installment_count=installment_count,
        created_by=created_by,
    )
    validated_save(version, force_insert=True)
    Installment.objects.bulk_create(
        Installment(
            loan=loan,
            schedule_version=version,
            sequence=row.sequence,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            amount=row.amount,
            balance_after=row.balance_after,
        )
        for row in schedule
    )
    publish_event(
        topic=topics.LOAN_BOOKED,
        aggregate_type="loans.DriverLoan",
        aggregate_id=loan.pk,
        payload={
            "loan_id": loan.pk,
            "loan_number": loan.loan_number,
            "driver_id": driver.pk,
            # Whom applications' consumer tells (it cannot read loans): the applicant, else the
            # driver's customer record; None when the driver has none.
            "customer_id": source_application.customer_id if source_application else driver.customer_id,
            "principal": str(principal),
            "first_due": schedule[0].due_date.isoformat(),
            "application_id": str(source_application.pk) if source_application else None,
        },
    )
    return loan


@transaction.atomic
def book_application_as_loan(
    *,
    application_id,
    driver_id: int,
    lease_id: int,
    start_week: date,
    created_by: User,
    frequency: str = Frequency.MONTHLY,
    method: str = Method.ANNUITY,
    installment_count: int | None = None,
    annual_interest_rate: Decimal | None = None,
    product_id: int | None = None,
) -> DriverLoan:
    """An approved application becomes a driver loan for its approved amount and rate.

    By default the term is the application's, in months; the application is marked booked in the
    same transaction (refused if it changed since it was read: optimistic locking). From a product
    (`product_id`), the approved amount, rate and term must lie within its ranges, as any booking.
    """
    try:
        application = LoanApplication.objects.select_related("customer").get(pk=application_id)
    except (LoanApplication.DoesNotExist, ValueError, ValidationError):
        raise NotFound("No such application.") from None
    if application.status != ApplicationStatus.APPROVED:
        raise IllegalTransition(
            f"Only an approved application can be booked; this one is {application.get_status_display().lower()}."
        )
    assert application.approved_amount is not None  # the application_approved_has_amount constraint
    rate = annual_interest_rate if annual_interest_rate is not None else application.interest_rate
    if rate is not None and rate > MAX_INTEREST_RATE:
        raise DomainError(
            f"The approved rate {rate} % is above the {MAX_INTEREST_RATE} % cap of driver loans; set a rate to book it.",
            fields={"annual_interest_rate": [f"At most {MAX_INTEREST_RATE} %."]},
        )
    driver = Driver.objects.select_for_update().filter(pk=driver_id).first()
    if driver is None:
        raise NotFound("No such driver.")
    if driver.customer_id not in (None, application.customer_id):
        raise Conflict(f"{driver} is linked to another customer than the applicant.", code="driver_customer_mismatch")
    loan = create_driver_loan(
        driver_id=driver.pk,
        lease_id=lease_id,
        principal=application.approved_amount,
        start_week=start_week,
        installment_count=installment_count or application.term_months,
        purpose=f"{application.get_purpose_display()} (application {str(application.pk)[:8]})",
        created_by=created_by,
        annual_interest_rate=rate,
        frequency=frequency,
        method=method,
        source_application=application,
        product_id=product_id,
    )
    applications.mark_application_booked(application_id=application.pk, expected_version=application.version)
    if driver.customer_id is None:
        driver.customer_id = application.customer_id
        driver.save(update_fields=["customer", "updated_at"])
    return loan


@transaction.atomic
def cancel_loan(*, loan_id: int, reason: str, actor: User) -> DriverLoan:
    """Undo a loan before anything was posted: installments cancelled, disbursement reversed.

    The installments are locked before the loan, in the order a posting chunk locks them
    (installments, then the loans it closes), so a cancel and a posting never deadlock; the lock
    waits for a posting run that holds one of them.
    """
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the loan is cancelled."]})
    installments = lock_installments_of(loan_id)
    loan = lock_loan(loan_id)
    if loan.status != LoanStatus.ACTIVE:
        raise IllegalTransition(f"{loan} is {loan.get_status_display().lower()}; only an active loan can be cancelled.")
    posted = sum(1 for installment in installments if installment.status == InstallmentStatus.POSTED)
    if posted:
        raise IllegalTransition(f"{loan} has {posted} posted installment(s); reverse them before cancelling.")
    cancel_scheduled_installments(installments)
    if loan.disbursement_entry_id:
        ledger.reverse_entry(
            entry_id=loan.disbursement_entry_id,
            reason=f"{loan} cancelled: {reason}",
            created_by=actor,
            on_behalf_of_source=DISBURSEMENT_SOURCE,
        )
    if loan.origination_fee_entry_id:
        ledger.reverse_entry(
            entry_id=loan.origination_fee_entry_id,
            reason=f"{loan} cancelled: {reason}",
            created_by=actor,
            on_behalf_of_source=ORIGINATION_FEE_SOURCE,
        )
    loan.status, loan.closed_at = LoanStatus.CANCELLED, timezone.now()
    loan.save(update_fields=["status", "closed_at"])
    return loan


def cancel_scheduled_installments(installments: Sequence[Installment]) -> list[Installment]:
    """Cancel the scheduled (unposted) ones among `installments`, which the caller has locked
    (`lock_installments_of`); posted ones are never touched. Returns those cancelled."""
    scheduled = [installment for installment in installments if installment.status == InstallmentStatus.SCHEDULED]
    Installment.objects.filter(pk__in=[installment.pk for installment in scheduled]).update(
        status=InstallmentStatus.CANCELLED
    )
    # The bulk update leaves no audit record of its own: one entry per installment, as a save would.
    log_bulk_changes(
        model=Installment,
        changes=[
            (installment, {"status": (InstallmentStatus.SCHEDULED, InstallmentStatus.CANCELLED)})
            for installment in scheduled
        ],
    )
    for installment in scheduled:
        installment.status = InstallmentStatus.CANCELLED
    return scheduled


def _loans_owing(driver_id: int, *, status: str, owing: bool):
    """The driver's loans in `status` that still owe something (an installment unposted, or
    posted with its open item unpaid, or a payoff bill unpaid: its payment was reversed), or with
    `owing=False` those that owe nothing."""
    unposted = Installment.objects.filter(loan=OuterRef("pk"), status=InstallmentStatus.SCHEDULED)
    unpaid = Installment.objects.filter(
        loan=OuterRef("pk"),
        status=InstallmentStatus.POSTED,
        posted_entry__in=OpenItem.objects.filter(status=OpenItemStatus.OPEN).values("entry_id"),
    )
    unpaid_payoff = LoanPayoff.objects.filter(loan=OuterRef("pk"), payoff_item__status=OpenItemStatus.OPEN)
    owes = Exists(unposted) | Exists(unpaid) | Exists(unpaid_payoff)
    return DriverLoan.objects.filter(driver_id=driver_id, status=status).filter(owes if owing else ~owes)


def _move_loans(driver_id: int, *, status: str, owing: bool, to: str) -> list[DriverLoan]:
    """Lock each loan `_loans_owing` finds, check it again under the lock, and move it to `to`."""
    moved = []
    for loan_id in _loans_owing(driver_id, status=status, owing=owing).order_by("pk").values_list("pk", flat=True):
        loan = lock_loan(loan_id)
        if loan.status != status or not _loans_owing(driver_id, status=status, owing=owing).filter(pk=loan.pk).exists():
            continue
        loan.status, loan.closed_at = to, timezone.now() if to == LoanStatus.CLOSED else None
        loan.save(update_fields=["status", "closed_at"])
        moved.append(loan)
    return moved


@transaction.atomic
def close_settled_loans(*, driver_id: int) -> list[DriverLoan]:
    """Close the driver's active loans with nothing left to pay (every installment posted and its
    open item paid); returns those it closed."""
    return _move_loans(driver_id, status=LoanStatus.ACTIVE, owing=False, to=LoanStatus.CLOSED)


@transaction.atomic
def reopen_unsettled_loans(*, driver_id: int) -> list[DriverLoan]:
    """Make the driver's closed loans active again where something is owed again (a payment or a
    credit application was reversed); returns those it reopened."""
    return _move_loans(driver_id, status=LoanStatus.CLOSED, owing=True, to=LoanStatus.ACTIVE)


@transaction.atomic
def reverse_installment_posting(*, installment_id: int, reason: str, actor: User) -> Installment:
    """Book the reversal of an installment's posting; the installment is due again.

    Refused while a payment is allocated to it (reverse the payment first). The next posting
    uses a new attempt number, hence a new idempotency key.
    """
    installment = lock_installment(installment_id)
    if installment.status != InstallmentStatus.POSTED:
        raise IllegalTransition(f"Installment {installment.sequence} of {installment.loan} is not posted.")
    if installment.loan.status != LoanStatus.ACTIVE:
        raise IllegalTransition(f"{installment.loan} is {installment.loan.get_status_display().lower()}.")
    assert installment.posted_entry_id is not None  # the installment_posted_iff_entry constraint
    ledger.reverse_entry(
        entry_id=installment.posted_entry_id, reason=reason, created_by=actor, on_behalf_of_source=POSTING_SOURCE
    )
    installment.status = InstallmentStatus.SCHEDULED
    installment.posted_entry = None
    installment.posted_at = None
    installment.posting_run = None
    installment.posting_attempt += 1
    installment.save(update_fields=["status", "posted_entry", "posted_at", "posting_run", "posting_attempt"])
    classify_loans(loan_ids=[installment.loan_id], as_of=business_today())
    return installment
