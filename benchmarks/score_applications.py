"""Benchmark: score N pending applications in batches, beside one-at-a-time scoring, on PostgreSQL.

    .venv/bin/python benchmarks/score_applications.py [--n 20000] [--batch-size 1000] [--baseline 500] [--workers 2]

End to end = from submitted applications in the database to everything the scoring saves: seven
agent results, analytics and a run per application, the decision and status, audit entries and
`application.decided` events (the relay kick goes to Redis, as in production). With --workers W,
W processes share the batches the way W Celery worker processes would (SKIP LOCKED keeps them
apart); the figure is applications scored per second of wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._setup import fresh_database, setup_django  # noqa: E402

TARGET_PER_SECOND = 2000


def create_pending_applications(count: int, seed: int = 7) -> list:
    from applications.models import Customer, LoanApplication, Partner
    from applications.services import pan_blind_index
    from loanproject.core.sensitive import Sensitive

    from django.contrib.auth import get_user_model

    rng = random.Random(seed)
    user = get_user_model().objects.create(username=f"bench-partner-{seed}")
    partner = Partner.objects.create(name=f"Bench {seed}", code=f"bench-{seed}", service_user=user)
    customers = []
    for i in range(count):
        pan = f"BNCH{'ABCDEFGHJK'[seed % 10]}{i % 10000:04d}{'ABCDEFGHJK'[i // 10000 % 10]}"
        customers.append(Customer(partner=partner, external_ref=f"C{i}", full_name=f"Customer {i}",
                                  email=f"c{seed}-{i}@example.com", phone=f"+{seed} 555 {i:07d}", pan=Sensitive(pan),
                                  pan_hash=pan_blind_index(pan)))
    customers = Customer.objects.bulk_create(customers, batch_size=2000)
    applications = [
        LoanApplication(
            partner=partner, customer=customer, requested_amount=Decimal(rng.randrange(1000, 60000, 500)),
            term_months=rng.choice([12, 24, 36, 48]), purpose="vehicle",
            annual_income=Decimal(rng.randrange(20000, 200000, 1000)), employment_status="employed",
            employment_duration_months=rng.randrange(0, 120), monthly_debt_payments=Decimal(rng.randrange(0, 2000, 50)),
            credit_score=rng.choice([None, rng.randrange(450, 850)]), total_payments=100,
            late_payments=rng.randrange(0, 20), utilization=Decimal(rng.randrange(0, 100)),
            credit_inquiries=rng.randrange(0, 6), credit_history_months=rng.randrange(0, 240),
            credit_mix=["credit_card", "auto_loan"], repayment_history=[{"month": "2026-01", "status": "on_time"}],
        )
        for customer in customers
    ]
    LoanApplication.objects.bulk_create(applications, batch_size=2000)
    return [a.pk for a in applications]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="applications scored in batches, per round (default 20000)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=300, help="applications scored one at a time")
    parser.add_argument("--workers", type=int, default=2, help="processes scoring batches in parallel")
    parser.add_argument("--rounds", type=int, default=3,
                        help="batch rounds, each on fresh applications; the median is the figure (this VM's speed varies)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_scoring"))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"))
    args = parser.parse_args()

    fresh_database(args.database_url)
    setup_django(args.database_url, args.broker_url)
    from agents import services
    from agents.models import AgentResult
    from applications.models import LoanApplication

    print(f"creating {args.baseline} pending applications for the baseline ...", flush=True)
    baseline_ids = create_pending_applications(args.baseline, seed=1)
    settle_database()
    started = time.perf_counter()
    for application_id in baseline_ids:
        services.score_applications(application_ids=[application_id])
    baseline_seconds = time.perf_counter() - started

    rounds = []
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}: creating {args.n} pending applications ...", flush=True)
        ids = create_pending_applications(args.n, seed=round_number + 1)
        settle_database()
        started = time.perf_counter()
        report = score_in_parallel(ids, batch_size=args.batch_size, workers=args.workers)
        rounds.append((report, time.perf_counter() - started))
        assert report.scored == len(ids), report
    assert not LoanApplication.objects.filter(status="submitted").exists()
    assert AgentResult.objects.count() == 7 * (args.baseline + args.n * args.rounds)
    _flush_broker(args.broker_url)

    baseline_rate = args.baseline / baseline_seconds
    rates = sorted(report.scored / seconds for report, seconds in rounds)
    median = statistics.median(rates)
    print()
    print(f"{'path':<40}{'applications':>13}{'seconds':>10}{'apps/s':>10}")
    print(f"{'one at a time (baseline)':<40}{args.baseline:>13}{baseline_seconds:>10.2f}{baseline_rate:>10.0f}")
    for number, (report, seconds) in enumerate(rounds, start=1):
        label = f"batches of {args.batch_size}, {args.workers} worker(s), #{number}"
        print(f"{label:<40}{report.scored:>13}{seconds:>10.2f}{report.scored / seconds:>10.0f}")
    print()
    last = rounds[-1][0]
    print(f"median {median:.0f}/s (min {rates[0]:.0f}, max {rates[-1]:.0f}); speed-up {median / baseline_rate:.1f}x; "
          f"last round: {last.pre_approved} pre-approved, {last.manual_review} manual review, {last.rejected} rejected")
    verdict = "meets" if median >= TARGET_PER_SECOND else "MISSES"
    print(f"target {TARGET_PER_SECOND}/s (median): {verdict}")


def _score_share(args: tuple) -> dict:
    ids, batch_size = args
    from agents import services

    report = services.score_in_batches(application_ids=ids, batch_size=batch_size)
    return report.as_dict()


def score_in_parallel(ids: list, *, batch_size: int, workers: int):
    """Deal the batches out to `workers` processes, as Celery workers sharing the job would."""
    import multiprocessing

    from django.db import connections

    from agents.services import ScoringReport

    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    shares = [sum(batches[w::workers], []) for w in range(workers)]
    connections.close_all()  # each process opens its own connection
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_score_share, [(share, batch_size) for share in shares])
    total = ScoringReport()
    for part in parts:
        total.add(ScoringReport(**part))
    return total


def settle_database() -> None:
    """Statistics for the planner and a checkpoint, so the timed part does not pay for the load."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CHECKPOINT")


def _flush_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    main()
