"""A seeded simulation of drivers' accounts driven through the servicing services, checked after
every step against a small in-memory model (issue 14).

Each sequence is one driver with a lease and up to two loans, a clock that starts 40 weeks ago
and moves a week at a time, and random steps: book a loan, post the week, post a past week again,
take a payment (exact, short, over), run the late-fee job, waive a fee, reverse a payment, reverse
a posting, pay a loan off, prepay (reduce term or installment), restructure (holiday capitalised
or waived, extension, rate change), write a loan off, record a recovery. Reversals, waivers,
restructurings and write-offs go through maker-checker (a maker asks, a checker approves).

Faults are injected around the service calls:
- a **crash before commit**: the call runs inside a transaction that is then rolled back, as when
  a worker dies before COMMIT; the database must show no trace of it (compared with a snapshot),
  and the step is delivered again;
- a **redelivery**: a call that succeeded is delivered a second time (the same idempotency key,
  the same run, the same approval), as a broker does after a lost acknowledgement; it must replay
  or be refused, never act twice.
A step the model expects refused (a paid fee waived, a payment reversed twice, a payoff short of
its quote, a write-off of a closed loan...) must be refused and change nothing.

The model knows nothing of the database but the ids of what a step created (the open item's id
breaks ties between items due the same day, as the ledger's allocation does) and the schedules
the services made (whose totals and shape it checks). After each step `check` compares, for the
driver: each category's receivable with the model's outstanding items and the ledger's own open
items; every item's amount, outstanding and status; the credit; every installment's state and
attempt; each late fee and waiver; each loan's status; recoveries; the write-off's figures
(principal first, then interest, then fees); per loan, principal + capitalised interest = billed +
prepaid + paid off + unbilled + written off unbilled, in the model and from the database alone;
and, for the book (read incrementally), the trial balance and account 1300 against the principal
not yet billed of every loan.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce

from ledger.models import OpenItem, Posting
from ledger.selectors import party_balance
from loanproject.core.approvals import approve_request
from loanproject.core.errors import DomainError
from loans import accounts, selectors, services
from loans.models import (
    DRIVER_PARTY_TYPE,
    DriverLoan,
    Installment,
    InstallmentStatus,
    LateFee,
    LateFeeKind,
    LoanPayoff,
    LoanPrepayment,
    LoanProduct,
    LoanRecovery,
    LoanStatus,
    LoanWriteOff,
    ScheduleVersion,
)
from loans.payoff import payoff_quote
from loans.periods import business_today
from loans.tests.factories import LeaseFactory

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
LATE_FEE = Decimal("10.00")
GRACE_DAYS = 3
OPEN, CLOSED, WAIVED, REVERSED, WRITTEN_OFF = "open", "closed", "waived", "reversed", "written_off"
# How the services refuse (400 field errors and 409 conflicts at the doors).
REFUSALS = (DomainError, ValidationError)


class InjectedCrash(Exception):
    """Raised inside a step's transaction to roll it back, as a worker dying before COMMIT."""


class Refused(Exception):
    """What the model expects the services to refuse (the step must change nothing)."""


@dataclass
class Item:
    """An open item the driver owes: an installment's or a late fee's."""

    category: str
    due: date
    amount: Decimal
    order: int  # the open item's id: the ledger pays items due the same day in id order
    loan_id: int
    outstanding: Decimal
    status: str = OPEN
    principal: Decimal = ZERO  # the principal it bills (payments pay its interest first)
    written_off_principal: Decimal = ZERO  # what a write-off gave up of that principal

    def principal_left(self) -> Decimal:
        """The principal still owed on it: payments pay interest first."""
        return min(self.outstanding, self.principal)


@dataclass
class ModelInstallment:
    id: int
    sequence: int
    due: date
    principal: Decimal
    amount: Decimal
    status: str = InstallmentStatus.SCHEDULED
    attempt: int = 1
    item: Item | None = None


@dataclass
class ModelLoan:
    id: int
    principal: Decimal
    installments: dict[int, ModelInstallment]
    status: str = LoanStatus.ACTIVE
    fees: dict[int, Item] = field(default_factory=dict)  # installment id -> its late fee's item
    fee_ids: dict[int, int] = field(default_factory=dict)  # installment id -> LateFee id
    paid_off: bool = False
    # What was billed outside the installments (the payoff's and prepayments' items) and the
    # principal in them; the interest capitalised into the schedule by holidays.
    extra_items: list[Item] = field(default_factory=list)
    extra_principal: Decimal = ZERO
    capitalised: Decimal = ZERO
    recovered: Decimal = ZERO
    unbilled_written_off: Decimal = ZERO
    rate: Decimal = ZERO  # the current schedule's annual rate, percent

    def unbilled(self) -> Decimal:
        return sum((i.principal for i in self.installments.values() if i.status == "scheduled"), ZERO)

    def reschedulable(self) -> bool:
        """What the services' live schedule accepts: active, something unposted, nothing posted
        after the first unposted installment."""
        scheduled = [i.sequence for i in self.installments.values() if i.status == InstallmentStatus.SCHEDULED]
        posted = [i.sequence for i in self.installments.values() if i.status == InstallmentStatus.POSTED]
        return self.status == LoanStatus.ACTIVE and bool(scheduled) and not any(p > min(scheduled) for p in posted)

    def items(self) -> list[Item]:
        found = [i.item for i in self.installments.values() if i.item is not None and i.item.status != REVERSED]
        return found + list(self.fees.values()) + self.extra_items


@dataclass
class ModelPayment:
    entry_id: int
    amount: Decimal
    shares: list[tuple[Item, Decimal]]
    credit_left: Decimal
    reversed: bool = False


@dataclass
class Driver:
    id: int
    lease_id: int
    loans: dict[int, ModelLoan] = field(default_factory=dict)
    credit: Decimal = ZERO
    payments: list[ModelPayment] = field(default_factory=list)

    def items(self) -> list[Item]:
        return [item for loan in self.loans.values() for item in loan.items()]

    def open_items(self) -> list[Item]:
        return [item for item in self.items() if item.status == OPEN]


def allocate(items: list[Item], amount: Decimal) -> tuple[list[tuple[Item, Decimal]], Decimal]:
    """The ledger's rule, written again plainly: category order, then due date, then id."""
    order = list(settings.LEDGER_PAYMENT_ALLOCATION_ORDER)

    def rank(item: Item) -> tuple[int, date, int]:
        return (order.index(item.category) if item.category in order else len(order), item.due, item.order)

    shares, left = [], amount
    for item in sorted(items, key=rank):
        if left == ZERO:
            break
        share = min(item.outstanding, left)
        shares.append((item, share))
        left -= share
    return shares, left


def pay(shares: list[tuple[Item, Decimal]]) -> None:
    for item, share in shares:
        item.outstanding -= share
        if item.outstanding == ZERO:
            item.status = CLOSED


@dataclass
class Simulation:
    seed: int
    crash_rate: float = 0.1
    redeliver_rate: float = 0.25
    stats: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.maker = User.objects.create_superuser(f"maker-{self.seed}", f"maker{self.seed}@example.com", "x")
        self.checker = User.objects.create_superuser(f"checker-{self.seed}", f"checker{self.seed}@example.com", "x")
        self.product = self._product()
        self.drivers: list[Driver] = []
        # What the simulation has booked up to the posting `last` (checks read only what is new),
        # counted from what the database held before it started.
        last = Posting.objects.aggregate(last=Max("pk"))["last"] or 0
        self.booked = {"last": last, "debit": ZERO, "credit": ZERO, "on_1300": ZERO}

    def _product(self) -> LoanProduct:
        return services.publish_loan_product(
            code=f"SIM-{self.seed}",
            created_by=self.maker,
            name="Simulated driver loan",
            currency=settings.LEDGER_CURRENCY,
            min_principal=Decimal("100.00"),
            max_principal=Decimal("5000.00"),
            min_annual_rate=Decimal("0"),
            max_annual_rate=Decimal("20"),
            frequencies=["weekly"],
            methods=["annuity", "equal_principal"],
            min_installments=2,
            max_installments=12,
            late_fee_kind=LateFeeKind.FLAT,
            late_fee_amount=LATE_FEE,
            late_fee_grace_days=GRACE_DAYS,
        )

    # --- Running ------------------------------------------------------------------------------

    def run(self, *, sequences: int, steps: int, on_sequence: Callable[[int], object] | None = None) -> Counter:
        for number in range(sequences):
            self.run_sequence(steps=steps)
            if on_sequence is not None:
                on_sequence(number + 1)
        return self.stats

    def run_sequence(self, *, steps: int) -> None:
        lease = LeaseFactory()
        self.driver = Driver(id=lease.driver_id, lease_id=lease.pk)
        self.drivers.append(self.driver)
        today = business_today()
        self.week = today - timedelta(days=(today.weekday() + 1) % 7) - timedelta(weeks=40)
        self.stats["sequences"] += 1
        self.trail: list[str] = []
        self.step(self.book)
        for _ in range(steps - 1):
            action = self.random.choices(
                [
                    self.book,
                    self.post_week,
                    self.post_past_week,
                    self.take_payment,
                    self.charge_late_fees,
                    self.waive_fee,
                    self.reverse_payment,
                    self.reverse_posting,
                    self.pay_off,
                    self.prepay,
                    self.restructure,
                    self.write_off,
                    self.recover,
                ],
                weights=[1, 6, 1, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1],
            )[0]
            self.step(action)

    def step(self, action: Callable[[], None]) -> None:
        self.stats[action.__name__] += 1
        self.trail.append(action.__name__)
        action()
        try:
            self.check()
        except AssertionError as exc:
            raise AssertionError(f"seed {self.seed}, after {' > '.join(self.trail)}: {exc}") from exc
        self.stats["steps"] += 1

    @property
    def today(self) -> date:
        """The simulated day: the Saturday of the last week posted, never after today."""
        return min(self.week - timedelta(days=1), business_today())

    # --- Delivery with faults -----------------------------------------------------------------

    def deliver(self, call: Callable[[], Any], *, replays: bool = True) -> Any:
        """Call a service as a queue would: maybe crash before commit first (nothing must be left),
        then deliver it; maybe deliver the same call again (it must replay or be refused, the
        checks prove it did nothing). A refusal of the first delivery propagates."""
        if self.random.random() < self.crash_rate:
            before = self.snapshot()
            try:
                with transaction.atomic():
                    call()
                    raise InjectedCrash
            except (InjectedCrash, *REFUSALS):
                pass
            assert self.snapshot() == before, "a crashed step left changes behind"
            self.stats["crashes"] += 1
        result = call()
        if replays and self.random.random() < self.redeliver_rate:
            self.stats["redeliveries"] += 1
            try:
                with transaction.atomic():
                    call()
            except REFUSALS:
                self.stats["redeliveries refused"] += 1
        return result

    def refused(self, call: Callable[[], Any]) -> None:
        """A step the model expects refused: the service must raise and change nothing."""
        before = self.snapshot()
        try:
            with transaction.atomic():
                call()
        except REFUSALS:
            self.stats["refusals"] += 1
        else:
            raise AssertionError("the services accepted what the model refuses")
        assert self.snapshot() == before, "a refused step left changes behind"

    def snapshot(self) -> tuple:
        """What a step could change, read cheaply (newest ids by index, the driver's own rows): a
        crashed or refused step must leave it as it was."""
        loans = list(self.driver.loans)
        return (
            Posting.objects.aggregate(last=Max("pk"))["last"],
            OpenItem.objects.aggregate(last=Max("pk"))["last"],
            LateFee.objects.aggregate(last=Max("pk"))["last"],
            tuple(
                OpenItem.objects.filter(
                    account__party_type=DRIVER_PARTY_TYPE, account__party_id=str(self.driver.id)
                ).values_list("pk", "outstanding", "status")
            ),
            tuple(Installment.objects.filter(loan_id__in=loans).values_list("pk", "status", "posting_attempt")),
            tuple(DriverLoan.objects.filter(pk__in=loans).values_list("pk", "status")),
        )

    # --- Steps --------------------------------------------------------------------------------

    def book(self) -> None:
        if len(self.driver.loans) >= 2:
            return
        principal = Decimal(self.random.randrange(100, 3000, 50)).quantize(CENT)
        count = self.random.randint(2, 8)
        rate = Decimal(self.random.choice(["0", "5", "12.5", "20"]))
        method = self.random.choice(["annuity", "equal_principal"])

        def book() -> DriverLoan:
            return services.create_driver_loan(
                driver_id=self.driver.id,
                lease_id=self.driver.lease_id,
                principal=principal,
                start_week=self.week,
                installment_count=count,
                purpose="Simulated",
                created_by=self.maker,
                annual_interest_rate=rate,
                method=method,
                disbursed_on=self.today,
                product_id=self.product.pk,
            )

        # A booking has no idempotency key of its own (a second call books a second loan): it is
        # never redelivered here; the application it comes from is booked once (applications).
        loan = self.deliver(book, replays=False)
        self.driver.loans[loan.pk] = ModelLoan(id=loan.pk, principal=principal, installments={}, rate=rate)
        self._read_new_schedule(self.driver.loans[loan.pk])

    def _read_new_schedule(self, loan: ModelLoan) -> list[ModelInstallment]:
        """A schedule (re)made by the services: the installments the model has not seen are the new
        version's, and the unposted ones it knew are cancelled (checked against the database)."""
        new = [
            ModelInstallment(id=pk, sequence=sequence, due=due, principal=principal, amount=amount)
            for pk, sequence, due, principal, amount in Installment.objects.filter(loan_id=loan.id)
            .exclude(pk__in=list(loan.installments))
            .order_by("sequence")
            .values_list("pk", "sequence", "due_date", "principal", "amount")
        ]
        if loan.installments:  # a change of schedule, not the booking: the old version's future goes
            for installment in loan.installments.values():
                if installment.status == InstallmentStatus.SCHEDULED:
                    installment.status = InstallmentStatus.CANCELLED
        loan.installments.update({installment.id: installment for installment in new})
        return new

    def _post(self, start: date) -> None:
        loan_ids = list(self.driver.loans)
        if not loan_ids:
            return
        end = start + timedelta(days=6)
        self.deliver(
            lambda: services.post_weekly_installments(
                period_start=start, period_end=end, started_by=self.maker, loan_ids=loan_ids
            )
        )
        billed = [
            installment
            for loan in self.driver.loans.values()
            if loan.status == LoanStatus.ACTIVE
            for installment in loan.installments.values()
            # A run catches up: it posts whatever is due by the week's end and still unposted.
            if installment.status == InstallmentStatus.SCHEDULED and installment.due <= end
        ]
        self._bill(billed)

    def _bill(self, billed: list[ModelInstallment]) -> None:
        items = dict(
            Installment.objects.filter(pk__in=[i.id for i in billed]).values_list("pk", "posted_entry__open_items")
        )
        for installment in billed:
            installment.status = InstallmentStatus.POSTED
            installment.item = Item(
                category="LOANS",
                due=installment.due,
                amount=installment.amount,
                order=items[installment.id],
                loan_id=self._loan_of(installment.id).id,
                outstanding=installment.amount,
                principal=installment.principal,
            )
        if billed:
            self._apply_credit()

    def _loan_of(self, installment_id: int) -> ModelLoan:
        return next(loan for loan in self.driver.loans.values() if installment_id in loan.installments)

    def _apply_credit(self) -> None:
        if self.driver.credit > ZERO:
            shares, left = allocate(self.driver.open_items(), self.driver.credit)
            pay(shares)
            self.driver.credit = left
            self._close_settled()

    def _close_settled(self) -> None:
        for loan in self.driver.loans.values():
            if loan.status == LoanStatus.ACTIVE and self._settled(loan):
                loan.status = LoanStatus.CLOSED

    def _reopen_unsettled(self) -> None:
        for loan in self.driver.loans.values():
            if loan.status == LoanStatus.CLOSED and not self._settled(loan):
                loan.status = LoanStatus.ACTIVE

    @staticmethod
    def _settled(loan: ModelLoan) -> bool:
        """Nothing left to bill and nothing billed unpaid (the services' `_loans_owing`: the
        installments and what the payoff billed)."""
        billed = all(
            i.status == InstallmentStatus.CANCELLED
            or (i.status == InstallmentStatus.POSTED and i.item is not None and i.item.status != OPEN)
            for i in loan.installments.values()
        )
        return billed and all(item.status != OPEN for item in loan.extra_items)

    def post_week(self) -> None:
        if self.week > business_today():
            return  # the present is reached: nothing more to post
        self._post(self.week)
        self.week += timedelta(weeks=1)

    def post_past_week(self) -> None:
        """Post again a week already posted: only installments whose posting was reversed (and are
        due by then) are posted."""
        due = sorted(
            i.due
            for loan in self.driver.loans.values()
            for i in loan.installments.values()
            if i.status == InstallmentStatus.SCHEDULED and i.due < self.week
        )
        start = self.week - timedelta(weeks=self.random.randint(1, 3))
        if due and self.random.random() < 0.7:
            start = due[0] - timedelta(days=(due[0].weekday() + 1) % 7)
        self._post(start)

    def take_payment(self) -> None:
        owed = sum((item.outstanding for item in self.driver.open_items()), ZERO)
        choices = [Decimal(self.random.randrange(1, 20000)) / 100]
        if owed > ZERO:
            choices += [owed, (owed * Decimal(self.random.random())).quantize(CENT) or CENT, owed + Decimal("25.00")]
        amount = self.random.choice(choices)
        key = str(uuid.UUID(int=self.random.getrandbits(128)))
        result = self.deliver(
            lambda: services.record_driver_payment(
                driver_id=self.driver.id,
                amount=amount,
                received_on=self.today,
                idempotency_key=key,
                created_by=self.maker,
            )
        )
        shares, left = allocate(self.driver.open_items(), amount)
        pay(shares)
        self.driver.credit += left
        self.driver.payments.append(
            ModelPayment(entry_id=result.payment.entry.pk, amount=amount, shares=shares, credit_left=left)
        )
        self._close_settled()

    def charge_late_fees(self) -> None:
        if not self.driver.loans:
            return
        as_of = self.today
        ids = sorted(self.driver.loans)
        self.deliver(
            lambda: services.charge_late_fee_chunk(
                as_of=as_of, first_loan_id=ids[0], next_loan_id=ids[-1] + 1, started_by=self.maker
            )
        )
        charged = [
            (loan, installment)
            for loan in self.driver.loans.values()
            if loan.status == LoanStatus.ACTIVE
            for installment in loan.installments.values()
            if installment.status == InstallmentStatus.POSTED
            and installment.item is not None
            and installment.item.status == OPEN
            and installment.due < as_of - timedelta(days=GRACE_DAYS)
            and installment.id not in loan.fees
        ]
        fees = {
            installment_id: (pk, item_id)
            for installment_id, pk, item_id in LateFee.objects.filter(
                installment_id__in=[i.id for _, i in charged]
            ).values_list("installment_id", "pk", "open_item_id")
        }
        for loan, installment in charged:
            fee_id, item_id = fees[installment.id]
            loan.fee_ids[installment.id] = fee_id
            loan.fees[installment.id] = Item(
                category="PENALTY", due=as_of, amount=LATE_FEE, order=item_id, loan_id=loan.id, outstanding=LATE_FEE
            )
        if charged:
            self._apply_credit()

    def _approve(self, request_of: Callable[[], Any]) -> Any:
        """Ask as the maker, approve as the checker: the approval is what gets redelivered."""
        request = request_of()
        return self.deliver(lambda: approve_request(request_id=request.pk, decided_by=self.checker))

    def waive_fee(self) -> None:
        fees = [(loan, i) for loan in self.driver.loans.values() for i in loan.fees]
        if not fees:
            return
        loan, installment_id = self.random.choice(fees)
        item, fee_id = loan.fees[installment_id], loan.fee_ids[installment_id]

        def ask() -> Any:
            return services.request_late_fee_waiver(late_fee_id=fee_id, reason="Simulated", requested_by=self.maker)

        if item.status != OPEN:  # paid in full or waived already: nothing to waive
            self.refused(ask)
            return
        self._approve(ask)
        item.outstanding, item.status = ZERO, WAIVED

    def reverse_payment(self) -> None:
        if not self.driver.payments:
            return
        payment = self.random.choice(self.driver.payments)

        def ask() -> Any:
            return services.request_driver_payment_reversal(
                driver_id=self.driver.id, payment_entry_id=payment.entry_id, reason="Bounced", requested_by=self.maker
            )

        if (
            payment.reversed
            or self.driver.credit < payment.credit_left
            or any(item.status == WRITTEN_OFF for item, _ in payment.shares)
        ):
            # Reversed already, the credit it left spent since, or it paid an item written off
            # since (the claim stays given up: a written-off loan never owes again).
            self.refused(ask)
            return
        self._approve(ask)
        payment.reversed = True
        self.driver.credit -= payment.credit_left
        for item, share in payment.shares:
            item.outstanding += share
            if item.status == CLOSED:
                item.status = OPEN
        self._reopen_unsettled()

    def reverse_posting(self) -> None:
        posted = [
            (loan, i)
            for loan in self.driver.loans.values()
            for i in loan.installments.values()
            if i.status == InstallmentStatus.POSTED
        ]
        if not posted:
            return
        loan, installment = self.random.choice(posted)

        def ask() -> Any:
            return services.request_installment_posting_reversal(
                installment_id=installment.id, reason="Posted in error", requested_by=self.maker
            )

        assert installment.item is not None
        if loan.status != LoanStatus.ACTIVE or installment.item.outstanding != installment.amount:
            self.refused(ask)  # a payment is allocated to it, or the loan is settled
            return
        self._approve(ask)
        installment.item.status = REVERSED
        installment.item = None
        installment.status = InstallmentStatus.SCHEDULED
        installment.attempt += 1

    def pay_off(self) -> None:
        """Settle a loan by its payoff quote as of today: what is left is billed (principal not
        yet billed and the interest accrued), the schedule cancelled, and the money pays this
        loan's items only; anything above stays as credit."""
        loans = [loan for loan in self.driver.loans.values() if loan.status == LoanStatus.ACTIVE]
        if not loans:
            return
        loan = self.random.choice(loans)
        as_of = self.today
        key = str(uuid.UUID(int=self.random.getrandbits(128)))

        def settle(amount: Decimal) -> Callable[[], Any]:
            return lambda: services.settle_loan_by_payoff(
                loan_id=loan.id, amount=amount, received_on=as_of, idempotency_key=key, actor=self.maker
            )

        posted_dues = [i.due for i in loan.installments.values() if i.status == InstallmentStatus.POSTED]
        if loan.paid_off or (posted_dues and as_of < max(posted_dues)):
            self.refused(settle(Decimal("100000.00")))  # paid off before, or billed past today
            return
        quote = payoff_quote(loan_id=loan.id, as_of=as_of)
        unbilled = sum((i.principal for i in loan.installments.values() if i.status == "scheduled"), ZERO)
        owed = sum((item.outstanding for item in loan.items() if item.status == OPEN), ZERO)
        assert (quote.principal, quote.billed_total) == (unbilled, owed), (quote.principal, quote.billed_total)
        if quote.total > CENT and self.random.random() < 0.2:
            self.refused(settle(quote.total - CENT))  # short of the quote
            return
        amount = quote.total + self.random.choice([ZERO, ZERO, Decimal("10.00")])
        if amount == ZERO:
            return
        settlement = self.deliver(settle(amount))
        payoff = settlement.payoff
        billed = quote.principal + quote.interest
        if billed > ZERO:
            assert payoff.payoff_item_id is not None
            loan.extra_items.append(
                Item(
                    category="LOANS",
                    due=as_of,
                    amount=billed,
                    order=payoff.payoff_item_id,
                    loan_id=loan.id,
                    outstanding=billed,
                    principal=quote.principal,
                )
            )
        loan.extra_principal += quote.principal
        for installment in loan.installments.values():
            if installment.status == InstallmentStatus.SCHEDULED:
                installment.status = InstallmentStatus.CANCELLED
        shares, left = allocate([item for item in loan.items() if item.status == OPEN], amount)
        pay(shares)
        self.driver.credit += left
        self.driver.payments.append(
            ModelPayment(entry_id=payoff.payment_entry_id, amount=amount, shares=shares, credit_left=left)
        )
        loan.status, loan.paid_off = LoanStatus.CLOSED, True

    def prepay(self) -> None:
        """A payment that pays what is due and prepays principal with the rest (up to what is not
        billed yet), then a new schedule: the same installment and fewer of them, or the same
        count and a smaller installment."""
        if not self.driver.loans:
            return
        loan = self.random.choice(list(self.driver.loans.values()))
        owed = sum((item.outstanding for item in self.driver.open_items()), ZERO)
        unbilled = loan.unbilled()
        amount = owed + self.random.choice([ZERO, (unbilled / 2).quantize(CENT), unbilled, unbilled + 30])
        mode = self.random.choice(["reduce_term", "reduce_installment"])
        key = str(uuid.UUID(int=self.random.getrandbits(128)))

        def prepay() -> Any:
            return services.prepay_loan(
                loan_id=loan.id, amount=amount, received_on=self.today, mode=mode, idempotency_key=key, actor=self.maker
            )

        shares, left = allocate(self.driver.open_items(), amount)
        prepaid = min(left, unbilled)
        if amount == ZERO or prepaid == ZERO or not loan.reschedulable():
            self.refused(prepay)  # nothing beyond what is due, or a schedule that cannot change
            return
        scheduled = sorted(
            (i for i in loan.installments.values() if i.status == InstallmentStatus.SCHEDULED), key=lambda i: i.sequence
        )
        done = self.deliver(prepay).prepayment
        pay(shares)
        self.driver.credit += left
        self.driver.payments.append(
            ModelPayment(entry_id=done.payment_entry_id, amount=amount, shares=shares, credit_left=left)
        )
        item_id = OpenItem.objects.filter(entry_id=done.entry_id).values_list("pk", flat=True).get()
        loan.extra_items.append(
            Item(
                category="LOANS",
                due=self.today,
                amount=prepaid,
                order=item_id,
                loan_id=loan.id,
                outstanding=prepaid,
                principal=prepaid,
            )
        )
        loan.extra_principal += prepaid
        self._apply_credit()
        new = self._read_new_schedule(loan)
        # What the new version must be, whatever its rounding: the principal left, spread over
        # fewer installments of the same amount, or as many smaller ones.
        assert sum((i.principal for i in new), ZERO) == unbilled - prepaid, (unbilled, prepaid, new)
        if new and mode == "reduce_term":
            assert len(new) <= len(scheduled) and all(i.amount <= scheduled[0].amount for i in new), new
        elif new:
            assert len(new) == len(scheduled), (len(new), len(scheduled))
        self._close_settled()

    def restructure(self) -> None:
        """A payment holiday (interest capitalised or waived), an extension or a rate change, asked
        by the maker and approved by the checker: a new schedule version from the first unposted
        installment."""
        if not self.driver.loans:
            return
        loan = self.random.choice(list(self.driver.loans.values()))
        kind = self.random.choice(["holiday", "extension", "rate_change"])
        periods = self.random.randint(1, 4) if kind != "rate_change" else None
        capitalise = self.random.choice([True, False]) if kind == "holiday" else None
        new_rate = Decimal(self.random.choice(["0", "7.5", "15"])) if kind == "rate_change" else None

        def ask() -> Any:
            return services.request_loan_restructuring(
                loan_id=loan.id,
                kind=kind,
                periods=periods,
                new_rate=new_rate,
                capitalise=capitalise,
                reason="Simulated hardship",
                requested_by=self.maker,
            )

        unbilled = loan.unbilled()
        # Weekly interest on the balance, compounded per skipped week, half-even to the cent.
        capitalised = ZERO
        for _ in range(periods if capitalise and periods else 0):
            capitalised += ((unbilled + capitalised) * loan.rate / 5200).quantize(CENT, ROUND_HALF_EVEN)
        if not loan.reschedulable() or (capitalise and capitalised == ZERO):
            self.refused(ask)  # a schedule that cannot change, or no interest to capitalise
            return
        scheduled = sorted(
            (i for i in loan.installments.values() if i.status == InstallmentStatus.SCHEDULED), key=lambda i: i.sequence
        )
        self._approve(ask)
        new = self._read_new_schedule(loan)
        assert loan_version(loan.id).capitalised_interest == capitalised, (loan.id, capitalised)
        loan.capitalised += capitalised
        if new_rate is not None:
            loan.rate = new_rate
        assert sum((i.principal for i in new), ZERO) == unbilled + capitalised, (unbilled, capitalised, new)
        assert [i.sequence for i in new][:1] == [scheduled[0].sequence]
        if kind == "holiday":
            assert new[0].due == scheduled[0].due + timedelta(weeks=periods or 0), (new[0].due, scheduled[0].due)
            assert len(new) == len(scheduled)
        elif kind == "extension":
            assert len(new) == len(scheduled) + (periods or 0) and capitalised == ZERO
        else:
            assert len(new) == len(scheduled) and capitalised == ZERO

    def write_off(self) -> None:
        """Write a loan off (maker asks, checker approves): what it owes billed (principal first,
        then interest, and its late fees) and not billed yet is given up, its items close as
        written off, its schedule is cancelled."""
        if not self.driver.loans:
            return
        loan = self.random.choice(list(self.driver.loans.values()))

        def ask() -> Any:
            return services.request_loan_write_off(loan_id=loan.id, reason="Driver gone", requested_by=self.maker)

        owed = [item for item in loan.items() if item.status == OPEN]
        unbilled = loan.unbilled()
        if loan.status != LoanStatus.ACTIVE or not (owed or unbilled):
            self.refused(ask)
            return
        billed = [item for item in owed if item.category == "LOANS"]
        principal = unbilled + sum((min(item.outstanding, item.principal) for item in billed), ZERO)
        interest = sum((item.outstanding - min(item.outstanding, item.principal) for item in billed), ZERO)
        fees = sum((item.outstanding for item in owed if item.category != "LOANS"), ZERO)
        self._approve(ask)
        figures = LoanWriteOff.objects.filter(loan_id=loan.id).values_list(
            "principal", "unbilled_principal", "interest", "fees", "total"
        )
        assert list(figures) == [(principal, unbilled, interest, fees, principal + interest + fees)], list(figures)
        for item in owed:
            item.written_off_principal = item.principal_left()
            item.outstanding, item.status = ZERO, WRITTEN_OFF
        for installment in loan.installments.values():
            if installment.status == InstallmentStatus.SCHEDULED:
                installment.status = InstallmentStatus.CANCELLED
        loan.status, loan.unbilled_written_off = LoanStatus.WRITTEN_OFF, unbilled

    def recover(self) -> None:
        """Money received for a written-off loan: recovery income, the loan stays written off."""
        if not self.driver.loans:
            return
        loan = self.random.choice(list(self.driver.loans.values()))
        amount = Decimal(self.random.randrange(1, 20000)) / 100
        key = str(uuid.UUID(int=self.random.getrandbits(128)))

        def recover() -> Any:
            return services.record_loan_recovery(
                loan_id=loan.id, amount=amount, received_on=self.today, idempotency_key=key, actor=self.maker
            )

        if loan.status != LoanStatus.WRITTEN_OFF:
            self.refused(recover)
            return
        self.deliver(recover)
        loan.recovered += amount

    # --- Checks -------------------------------------------------------------------------------

    def _items_report(self, party: Any) -> str:
        """The model's items beside the ledger's, for a failing check."""
        model = sorted((i.order, i.category, i.due, i.amount, i.outstanding, i.status) for i in self.driver.items())
        ledger_rows = sorted(
            OpenItem.objects.filter(account__party_type=party.type, account__party_id=party.id).values_list(
                "pk", "account__category", "due_date", "amount", "outstanding", "status"
            )
        )
        return f"model {model}; ledger {ledger_rows}; credit {self.driver.credit}"

    def check(self) -> None:
        driver = self.driver
        party = accounts.driver_party(driver.id)
        open_by_category: Counter = Counter()
        for item in driver.open_items():
            open_by_category[item.category] += item.outstanding
        ledger_items = dict(
            OpenItem.objects.filter(account__party_type=party.type, account__party_id=party.id, status="open")
            .values_list("account__category")
            .annotate(total=Sum("outstanding"))
        )
        for category in ["LOANS", "PENALTY"]:
            expected = open_by_category[category]
            found = party_balance(party=party, category=category)
            assert found == expected, (category, found, expected, self._items_report(party))
            assert ledger_items.get(category, ZERO) == expected, (category, "items", expected)
        assert -party_balance(party=party, category="") == driver.credit, ("credit", driver.credit)

        for loan in driver.loans.values():
            rows = {
                pk: (status, attempt)
                for pk, status, attempt in Installment.objects.filter(loan_id=loan.id).values_list(
                    "pk", "status", "posting_attempt"
                )
            }
            assert rows == {i.id: (i.status, i.attempt) for i in loan.installments.values()}, loan.id
            fees = dict(LateFee.objects.filter(loan_id=loan.id).values_list("installment_id", "status"))
            assert fees == {i: ("waived" if item.status == WAIVED else "charged") for i, item in loan.fees.items()}, (
                loan.id
            )
            status = DriverLoan.objects.filter(pk=loan.id).values_list("status", flat=True).get()
            assert status == loan.status, (loan.id, status, loan.status)
            billed = sum((i.principal for i in loan.installments.values() if i.status == "posted"), ZERO)
            unbilled = sum((i.principal for i in loan.installments.values() if i.status == "scheduled"), ZERO)
            assert (
                billed + loan.extra_principal + unbilled + loan.unbilled_written_off
                == loan.principal + loan.capitalised
            ), loan.id
            # Item by item: what was billed, what is still owed (so what was paid) and how it closed.
            expected_items = {item.order: (item.amount, item.outstanding, item.status) for item in loan.items()}
            found_items = {
                pk: (amount, outstanding, status)
                for pk, amount, outstanding, status in OpenItem.objects.filter(pk__in=expected_items).values_list(
                    "pk", "amount", "outstanding", "status"
                )
            }
            assert found_items == expected_items, (loan.id, found_items, expected_items)
            assert database_principal_balances(loan.id), loan.id
            recovered = LoanRecovery.objects.filter(loan_id=loan.id, reversal_entry__isnull=True).aggregate(
                total=Coalesce(Sum("amount"), ZERO)
            )["total"]
            assert recovered == loan.recovered, (loan.id, recovered, loan.recovered)

        self._check_principal(driver)
        self._check_book()

    def _check_principal(self, driver: Driver) -> None:
        """Per loan, the issue's invariant: principal repaid + written off + outstanding = principal
        (+ interest capitalised), in the model, and the portfolio report's figures equal to it."""
        figures = selectors.loan_figures(loan_ids=list(driver.loans))
        for loan in driver.loans.values():
            billed = [item for item in loan.items() if item.category == "LOANS"]
            written_off_billed = sum((item.written_off_principal for item in billed), ZERO)
            repaid = sum((item.principal - item.principal_left() - item.written_off_principal for item in billed), ZERO)
            outstanding = loan.unbilled() + sum((item.principal_left() for item in billed), ZERO)
            written_off = written_off_billed + loan.unbilled_written_off
            assert repaid + written_off + outstanding == loan.principal + loan.capitalised, loan.id
            found = figures[loan.id]
            reported = (
                found["principal_repaid"] - written_off_billed,
                found["unbilled_principal"] + found["billed_principal"] - found["principal_repaid"],
            )
            assert reported == (repaid, outstanding), (loan.id, reported, repaid, outstanding)

    def _check_book(self) -> None:
        """The book, read incrementally (the postings since the last check): what the simulation
        booked balances, and it moved account 1300 by the principal not yet billed of every loan it
        booked (the model's, all sequences)."""
        new = Posting.objects.filter(pk__gt=self.booked["last"]).aggregate(
            last=Max("pk"),
            new_debit=Coalesce(Sum("debit"), ZERO),
            new_credit=Coalesce(Sum("credit"), ZERO),
            new_on_1300=Coalesce(
                Sum(F("debit") - F("credit"), filter=Q(account__code=accounts.LOANS_PRINCIPAL[0])), ZERO
            ),
        )
        if new["last"] is not None:
            self.booked["last"] = new["last"]
            for total in ("debit", "credit", "on_1300"):
                self.booked[total] += new[f"new_{total}"]
        assert self.booked["debit"] == self.booked["credit"], self.booked
        unbilled = sum(
            (
                installment.principal
                for driver in self.drivers
                for loan in driver.loans.values()
                for installment in loan.installments.values()
                if installment.status == InstallmentStatus.SCHEDULED
            ),
            ZERO,
        )
        assert self.booked["on_1300"] == unbilled, (self.booked["on_1300"], unbilled)


def database_principal_balances(loan_id: int) -> bool:
    """From the database alone: principal + interest capitalised = principal billed by
    installments + prepaid + paid off + still scheduled + written off before it was billed."""

    def total(queryset: Any, column: str) -> Decimal:
        return queryset.aggregate(total=Coalesce(Sum(column), ZERO))["total"]  # type: ignore[no-any-return]

    installments = Installment.objects.filter(loan_id=loan_id)
    principal = DriverLoan.objects.filter(pk=loan_id).values_list("principal", flat=True).get()
    capitalised = total(ScheduleVersion.objects.filter(loan_id=loan_id), "capitalised_interest")
    parts = [
        total(installments.filter(status=InstallmentStatus.POSTED), "principal"),
        total(installments.filter(status=InstallmentStatus.SCHEDULED), "principal"),
        total(LoanPrepayment.objects.filter(loan_id=loan_id), "amount"),
        total(LoanPayoff.objects.filter(loan_id=loan_id), "principal"),
        total(LoanWriteOff.objects.filter(loan_id=loan_id), "unbilled_principal"),
    ]
    return principal + capitalised == sum(parts, ZERO)


def loan_version(loan_id: int) -> ScheduleVersion:
    """The loan's newest schedule version."""
    return ScheduleVersion.objects.filter(loan_id=loan_id).order_by("-number").first()  # type: ignore[return-value]
