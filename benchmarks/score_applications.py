"""Benchmark: scoring throughput on PostgreSQL, one at a time and in batches, on the same data.

    .venv/bin/python benchmarks/score_applications.py [--n 20000] [--batch-size 1000] [--baseline 500]
                                                      [--workers 1 2] [--rounds 3]

Measured in one run, each on fresh applications of the same shape:
1. one at a time (the baseline): each application's `application.submitted` event handed to the
   consumer task (agents.tasks.score_submitted_application_task, applied eagerly in this process
   as a worker would run it): receipt, lock, facts, agents, save and commit, per event;
2. batches of --batch-size through agents.services.score_in_batches, shared by W forked processes
   the way W Celery worker processes would share them (SKIP LOCKED keeps them apart), for each W
   in --workers. --rounds rounds per W, taking turns; the median is the figure (this VM's speed
   varies).
Batch with 1 worker against the baseline is what batching gains; 2 workers against 1 is what
parallelism adds on this 2-core machine (PostgreSQL shares the cores).

End to end = from submitted applications in the database to everything scoring saves: seven agent
results, analytics and a run per application, the decision and status, audit entries,
`application.decided` events (the relay kick goes to Redis, as in production) and the officer
each manual review is assigned to.

The data is shaped like production's: customers of two partners; about 40 % with a bank account
whose last three full months hold their salary (income verification: most match the declared
income, a quarter fall well short); about 3 % share an e-mail and 3 % a phone with a customer of
another PAN, and 2 % apply again under a PAN already seen (fraud checks); active loan officers with
room for every manual review (a fresh team per measured path, so each assigns the same way).
The target applies to the median of the largest worker count.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._setup import fresh_database, setup_django

TARGET_PER_SECOND = 2000
BANK_DATA_SHARE = 0.40
SHORT_INCOME_SHARE = 0.25  # of those with bank data: salary well below the declared income
SHARED_EMAIL_SHARE = 0.03
SHARED_PHONE_SHARE = 0.03
REPEATED_PAN_SHARE = 0.02
OFFICERS = 20
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


# --- Data ----------------------------------------------------------------------------------------


def bench_partners() -> list:
    from django.contrib.auth import get_user_model

    from applications.models import Partner

    partners = []
    for code in ("bench-a", "bench-b"):
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            user = get_user_model().objects.create(username=f"{code}-service")
            partner = Partner.objects.create(name=code.title(), code=code, service_user=user)
        partners.append(partner)
    return partners


def create_customers(count: int, rng: random.Random, tag: str, run: int) -> list:
    """Customers of two partners; some share an e-mail, a phone or a PAN with another customer."""
    from applications.models import Customer
    from applications.services import pan_blind_index
    from loanproject.core.sensitive import Sensitive

    partners = bench_partners()
    customers: list[Customer] = []
    pans: list[str] = []
    for i in range(count):
        # Unique per run and customer, so PANs repeat only where the share below repeats them.
        pan = f"{LETTERS[run % 24]}{LETTERS[i // 10000 % 24]}{LETTERS[i // 240000 % 24]}CH{i % 10000:04d}Z"
        email, phone = f"{tag}-{i}@example.com", f"+1 {run:03d} {i:07d}"
        if i and rng.random() < REPEATED_PAN_SHARE:
            pan = rng.choice(pans)
        if i and rng.random() < SHARED_EMAIL_SHARE:
            email = customers[rng.randrange(i)].email
        if i and rng.random() < SHARED_PHONE_SHARE:
            phone = customers[rng.randrange(i)].phone
        pans.append(pan)
        customers.append(
            Customer(
                partner=partners[i % 2],
                external_ref=f"{tag}-{i}",
                full_name=f"Customer {tag} {i}",
                email=email,
                phone=phone,
                pan=Sensitive(pan),
                pan_hash=pan_blind_index(pan),
            )
        )
    return Customer.objects.bulk_create(customers, batch_size=2000)


def create_bank_data(customers: list, incomes: dict, rng: random.Random) -> int:
    """A checking account for a share of the customers, with salary and spending in each of the
    three full months before this one (the window income verification reads)."""
    from finance.models import Account, BankConnection, Transaction
    from finance.periods import add_months, first_of_month

    banked = [c for c in customers if rng.random() < BANK_DATA_SHARE]
    connections = BankConnection.objects.bulk_create(
        [BankConnection(customer=c, provider="manual", institution_name="Bench Bank") for c in banked], batch_size=2000
    )
    accounts = Account.objects.bulk_create(
        [
            Account(
                connection=conn,
                customer_id=conn.customer_id,
                provider_account_id=f"acc-{conn.pk}",
                name="Checking",
                current_balance=Decimal("2500.00"),
                type="checking",
            )
            for conn in connections
        ],
        batch_size=2000,
    )
    this_month = first_of_month(date.today())
    months = [add_months(this_month, -back) for back in (1, 2, 3)]
    partner_of = {c.pk: c.partner_id for c in banked}
    rows = []
    for account in accounts:
        monthly = (incomes[account.customer_id] / 12).quantize(Decimal("0.01"))
        if rng.random() < SHORT_INCOME_SHARE:
            monthly = (monthly * Decimal("0.6")).quantize(Decimal("0.01"))
        for month in months:
            rows.append(
                Transaction(
                    account=account,
                    customer_id=account.customer_id,
                    partner_id=partner_of[account.customer_id],
                    date=month + timedelta(days=14),
                    provider_transaction_id=f"pay-{account.pk}-{month:%Y%m}",
                    amount=monthly,
                    name="ACME PAYROLL",
                    category="payroll",
                )
            )
            rows.append(
                Transaction(
                    account=account,
                    customer_id=account.customer_id,
                    partner_id=partner_of[account.customer_id],
                    date=month + timedelta(days=3),
                    provider_transaction_id=f"rent-{account.pk}-{month:%Y%m}",
                    amount=-(monthly * Decimal("0.3")).quantize(Decimal("0.01")),
                    name="Rent",
                    category="rent_and_utilities",
                )
            )
    Transaction.objects.bulk_create(rows, batch_size=5000)
    return len(banked)


def create_officers(count: int, capacity: int, tag: str) -> None:
    """A fresh team of active officers (earlier teams retire), so each path assigns the same way."""
    from django.contrib.auth import get_user_model

    from applications.models import Reviewer

    Reviewer.objects.update(is_active=False)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"officer-{tag}-{i}", is_staff=True) for i in range(count)]
    )
    Reviewer.objects.bulk_create(
        [
            Reviewer(user=user, role="officer", approval_limit=Decimal("25000.00"), capacity=min(capacity, 32767))
            for user in users
        ]
    )


def create_pending_applications(count: int, *, run: int, with_events: bool = False) -> list:
    """`count` submitted applications with their customers, bank data and officers to review them."""
    from django.utils import timezone

    from applications.models import LoanApplication
    from loanproject.core.models import OutboxEvent

    rng, tag = random.Random(run), f"run{run}"
    customers = create_customers(count, rng, tag, run)
    applications = [
        LoanApplication(
            partner_id=customer.partner_id,
            customer=customer,
            requested_amount=Decimal(rng.randrange(1000, 60000, 500)),
            term_months=rng.choice([12, 24, 36, 48]),
            purpose="vehicle",
            annual_income=Decimal(rng.randrange(20000, 200000, 1000)),
            employment_status=rng.choice(["employed"] * 6 + ["self_employed", "retired", "student", "unemployed"]),
            employment_duration_months=rng.randrange(0, 120),
            monthly_debt_payments=Decimal(rng.randrange(0, 2000, 50)),
            credit_score=rng.choice([None, rng.randrange(450, 850)]),
            total_payments=100,
            late_payments=rng.randrange(0, 20),
            utilization=Decimal(rng.randrange(0, 100)),
            credit_inquiries=rng.randrange(0, 6),
            credit_history_months=rng.randrange(0, 240),
            credit_mix=rng.sample(["credit_card", "auto_loan", "mortgage", "student_loan"], rng.randrange(1, 5)),
            repayment_history=[
                {"month": f"2026-{m:02d}", "status": rng.choice(["on_time"] * 8 + ["late_30", "late_60"])}
                for m in range(1, rng.randrange(2, 13))
            ],
        )
        for customer in customers
    ]
    LoanApplication.objects.bulk_create(applications, batch_size=2000)
    create_bank_data(customers, {a.customer_id: a.annual_income for a in applications}, rng)
    create_officers(OFFICERS, math.ceil(count / OFFICERS), tag)
    if not with_events:
        return [a.pk for a in applications]
    now = timezone.now()  # the relay published them; the consumer now gets them one by one
    events = OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                topic="application.submitted",
                aggregate_type="applications.LoanApplication",
                aggregate_id=str(a.pk),
                payload={"application_id": str(a.pk), "partner_id": a.partner_id},
                published_at=now,
            )
            for a in applications
        ],
        batch_size=2000,
    )
    return [event.pk for event in events]


def settle_database() -> None:
    """Statistics for the planner and a checkpoint, so the timed part does not pay for the load."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CHECKPOINT")


# --- The paths -----------------------------------------------------------------------------------


def score_one_at_a_time(event_ids: list) -> float:
    from agents.tasks import score_submitted_application_task

    started = time.perf_counter()
    for event_id in event_ids:
        assert score_submitted_application_task.apply(args=(event_id,)).get() is True
    return time.perf_counter() - started


def _score_share(args: tuple) -> dict:
    ids, batch_size = args
    from agents import services

    # As `manage.py score_applications` scores the pending ones: only submitted are chosen.
    return services.score_in_batches(application_ids=ids, batch_size=batch_size, rescore_decided=False).as_dict()


def score_in_parallel(ids: list, *, batch_size: int, workers: int):
    """Deal the batches out to `workers` forked processes, as Celery workers sharing the job would."""
    import multiprocessing

    from django.db import connections

    from agents.services import ScoringReport

    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    shares = [[item for batch in batches[w::workers] for item in batch] for w in range(workers)]
    connections.close_all()  # each process opens its own connection
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_score_share, [(share, batch_size) for share in shares])
    total = ScoringReport()
    for part in parts:
        total.add(ScoringReport(**part))
    return total


def data_shape(ids: list) -> dict:
    """What the scored applications went through: proof that every realistic path ran."""
    from django.db.models import Count, Q

    from agents.models import AgentResult
    from applications.models import LoanApplication

    reviews = LoanApplication.objects.filter(pk__in=ids, status="manual_review").aggregate(
        total=Count("pk"), assigned=Count("pk", filter=Q(assigned_to__isnull=False))
    )
    results = AgentResult.objects.filter(run__application__in=ids)
    return {
        "manual reviews assigned": f"{reviews['assigned']} of {reviews['total']}",
        "incomes verified / mismatched": "{} / {}".format(
            results.filter(agent_name="income_verification", output__status="verified").count(),
            results.filter(agent_name="income_verification", output__status="mismatch").count(),
        ),
        "fraud flags raised": results.filter(agent_name="fraud_checks").exclude(output__flags=[]).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n", type=int, default=20000, help="applications scored in batches, per round (default 20000)"
    )
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--baseline", type=int, default=500, help="applications scored one event at a time (default 500)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="processes sharing the batches; each value is measured (default 1 2)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds per worker count, each on fresh applications; the median is the figure",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_scoring"),
    )
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"))
    args = parser.parse_args()

    fresh_database(args.database_url)
    setup_django(args.database_url, args.broker_url)
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # a line per task is noise here
    from agents.models import AgentResult
    from applications.models import LoanApplication

    print(f"baseline: creating {args.baseline} pending applications and their events ...", flush=True)
    event_ids = create_pending_applications(args.baseline, run=0, with_events=True)
    settle_database()
    baseline_seconds = score_one_at_a_time(event_ids)

    measured: dict[int, list] = {}
    run = 0
    # Worker counts take turns round by round: each meets the tables at the same sizes.
    for round_number in range(1, args.rounds + 1):
        for workers in args.workers:
            run += 1
            print(f"{workers} worker(s), round {round_number}: creating {args.n} pending applications ...", flush=True)
            ids = create_pending_applications(args.n, run=run)
            settle_database()
            started = time.perf_counter()
            report = score_in_parallel(ids, batch_size=args.batch_size, workers=workers)
            measured.setdefault(workers, []).append((report, time.perf_counter() - started))
            assert report.scored == len(ids), report
    assert not LoanApplication.objects.filter(status="submitted").exists()
    assert AgentResult.objects.count() == 7 * (args.baseline + args.n * args.rounds * len(args.workers))
    shape = data_shape(ids)
    _flush_broker(args.broker_url)

    baseline_rate = args.baseline / baseline_seconds
    print()
    print(f"{'path':<44}{'applications':>13}{'seconds':>10}{'apps/s':>10}")
    print(
        f"{'one event at a time (consumer task)':<44}{args.baseline:>13}{baseline_seconds:>10.2f}{baseline_rate:>10.0f}"
    )
    medians = {}
    for workers, rounds in measured.items():
        for number, (report, seconds) in enumerate(rounds, start=1):
            label = f"batches of {args.batch_size}, {workers} worker(s), #{number}"
            print(f"{label:<44}{report.scored:>13}{seconds:>10.2f}{report.scored / seconds:>10.0f}")
        medians[workers] = statistics.median(report.scored / seconds for report, seconds in rounds)
    print()
    for workers, median in medians.items():
        print(f"{workers} worker(s): median {median:.0f}/s, {median / baseline_rate:.1f}x the one-at-a-time baseline")
    if 1 in medians:
        for workers, median in medians.items():
            if workers != 1:
                print(f"{workers} workers against 1: {median / medians[1]:.2f}x (parallelism alone)")
    last = measured[args.workers[-1]][-1][0]  # the round `ids` belongs to
    print(
        f"last round: {last.pre_approved} pre-approved, {last.manual_review} manual review, {last.rejected} rejected; "
        + "; ".join(f"{key} {value}" for key, value in shape.items())
    )
    best = max(medians)
    verdict = "meets" if medians[best] >= TARGET_PER_SECOND else "MISSES"
    print(f"target {TARGET_PER_SECOND}/s (median, {best} worker(s)): {verdict}")


def _flush_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    main()
