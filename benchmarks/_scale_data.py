"""The data set of benchmarks/admin_scale.py, written set-based (INSERT ... SELECT generate_series).

Every row passes the database's own rules: named CHECK constraints, the composite foreign keys
(application -> customer's partner, finance transaction -> account's customer) and the ledger's
triggers (an entry's legs are written in the transaction that creates it and every entry balances
at COMMIT). Shapes follow what the services write: the weekly posting's idempotency keys,
descriptions and open-item references, the payment service's entries and allocations, the party
receivable accounts' codes.

At scale 1.0 (the figures of issue 12): 500,000 customers of three partners, 1,000,000
applications in every status over two years, 9,611 weekly driver loans (one of 520 installments,
the rest of 104, started over two years before the backlog weeks) with 1,000,000 installments, of which those due
before the posting backlog (`BACKLOG_WEEKS`) are posted: about 500,000 entries with three legs
each and an open item, payments closing some of the items, about 1,700,000 postings in all, and
50,000 bank connections with 100,000 accounts and 1,000,000 finance transactions.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
META_TABLE = "bench_admin_scale_meta"  # not a Django model: what was built, at which scale and commit
PARTNER_CODES = ("bench-a", "bench-b", "bench-c")
SUPERUSER = "bench-admin"
OFFICERS = 10
LONG_LOAN_INSTALLMENTS = 520
LOAN_INSTALLMENTS = 104
# The weekly posting has not run for these last weeks: their installments are due and unposted
# (the unposted report has rows to page through; the rest of the book is posted).
BACKLOG_WEEKS = 8
PAID_SHARE_PERCENT = 18  # of the posted items, paid in full by one payment each
BANKED_EVERY = 10  # every tenth customer has a bank connection with two accounts
TRANSACTIONS_PER_ACCOUNT = 10
PAN_POOL = 1000  # distinct real ciphertexts (each customer's blind index is its own)

FIRST_NAMES = [
    "Maria",
    "James",
    "Robert",
    "Mary",
    "John",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Linda",
    "William",
    "Elizabeth",
    "Richard",
    "Barbara",
    "Joseph",
    "Susan",
    "Thomas",
    "Jessica",
    "Charles",
    "Sarah",
    "Daniel",
    "Karen",
    "Matthew",
    "Lisa",
    "Anthony",
    "Nancy",
    "Mark",
    "Betty",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
]
MERCHANTS = (  # (name, category key)
    ("Whole Foods", "food_drink"),
    ("Shell", "transportation"),
    ("Con Edison", "rent_and_utilities"),
    ("Amazon", "shopping"),
    ("Uber", "transportation"),
    ("Starbucks", "food_drink"),
    ("Target", "shopping"),
    ("Verizon", "rent_and_utilities"),
    ("Trader Joes", "food_drink"),
    ("CVS Pharmacy", "medical"),
)


@dataclass(frozen=True)
class Sizes:
    customers: int
    applications: int
    loans: int  # besides the long one
    connections: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        customers = max(30, round(500_000 * scale))
        installments = max(LONG_LOAN_INSTALLMENTS + LOAN_INSTALLMENTS, round(1_000_000 * scale))
        return cls(
            customers=customers,
            applications=max(60, round(1_000_000 * scale)),
            loans=max(1, round((installments - LONG_LOAN_INSTALLMENTS) / LOAN_INSTALLMENTS)),
            connections=max(1, customers // BANKED_EVERY),
        )


def git_commit() -> str:
    """HEAD, marked "+dirty" when the working tree differs from it (the code that ran is not HEAD's)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def built_meta() -> dict[str, str] | None:
    """What a previous build recorded, or None when the database holds no finished build."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [META_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT key, value FROM {META_TABLE}")
        meta = dict(cursor.fetchall())
    return meta if meta.get("finished_at") else None


def build(scale: float, *, log: Callable[[str], None] = print) -> dict[str, float]:
    """Write the whole data set into the (freshly migrated, empty) database; seconds per step."""
    from django.db import connection

    sizes = Sizes.at(scale)
    today = _business_today()
    this_sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    now = datetime.now().astimezone()
    steps: list[tuple[str, Callable[[], int]]] = [
        ("partners, users, reviewers", lambda: _people()),
        ("applications_customer", lambda: _customers(sizes, now)),
        ("applications_loanapplication", lambda: _applications(sizes, now)),
        ("loans_driver, lease, ledger_account, driverloan", lambda: _loans(sizes, this_sunday)),
        ("loans_installment", lambda: _installments(this_sunday)),
        ("ledger disbursements (entries, postings)", lambda: _disbursements()),
        ("ledger weekly postings (entries, postings, open items)", lambda: _postings(this_sunday, log)),
        ("ledger payments (entries, postings, allocations)", lambda: _payments(today)),
        ("finance_bankconnection, finance_account", lambda: _bank_accounts(sizes, now)),
        ("finance_transaction", lambda: _transactions(today)),
    ]
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        # This session only: the build is rebuilt from scratch if the server crashes.
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        cursor.execute("SET work_mem = '128MB'")
        cursor.execute(f"CREATE TABLE {META_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
        cursor.execute(
            f"INSERT INTO {META_TABLE} VALUES ('scale', %s), ('commit', %s), ('started_at', %s)",
            [str(scale), git_commit(), now.isoformat()],
        )
    total = time.perf_counter()
    for number, (name, step) in enumerate(steps, start=1):
        started = time.perf_counter()
        log(f"  [{number}/{len(steps) + 1}] {name} ...")
        rows = step()
        timings[name] = time.perf_counter() - started
        log(f"  [{number}/{len(steps) + 1}] {name}: {rows:,} rows in {timings[name]:.1f} s")
    started = time.perf_counter()
    log(f"  [{len(steps) + 1}/{len(steps) + 1}] VACUUM ANALYZE ...")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["VACUUM ANALYZE"] = time.perf_counter() - started
    log(f"  [{len(steps) + 1}/{len(steps) + 1}] VACUUM ANALYZE in {timings['VACUUM ANALYZE']:.1f} s")
    timings["total"] = time.perf_counter() - total
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {META_TABLE} VALUES ('finished_at', %s), ('build_seconds', %s)",
            [datetime.now().astimezone().isoformat(), f"{timings['total']:.1f}"],
        )
    return timings


def _business_today() -> date:
    from loans.periods import business_today

    return business_today()


def _execute(sql: str, params: dict | list | None = None) -> int:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {} if params is None else params)  # always interpolated: %% is one %
        return cursor.rowcount


def _scalar(sql: str, params: dict | list | None = None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- People --------------------------------------------------------------------------------------


def _people() -> int:
    """Three partners with their service users, a superuser, officers with review capacity."""
    from django.contrib.auth import get_user_model

    from applications.models import Partner, Reviewer

    User = get_user_model()
    rows = 0
    for code in PARTNER_CODES:
        user = User.objects.create(username=f"{code}-service")
        Partner.objects.create(
            name=f"Bench partner {code[-1].upper()}", code=code, service_user=user, contact_email=f"{code}@example.com"
        )
        rows += 2
    User.objects.create_superuser(username=SUPERUSER, email="bench-admin@example.com", password=None)
    manager = Reviewer.objects.create(
        user=User.objects.create(username="bench-manager", is_staff=True),
        role="manager",
        approval_limit=Decimal("100000.00"),
        capacity=100,
    )
    for number in range(OFFICERS):
        Reviewer.objects.create(
            user=User.objects.create(username=f"bench-officer-{number}", is_staff=True),
            role="officer",
            manager=manager,
            approval_limit=Decimal("25000.00"),
            capacity=5000,
        )
    return rows + 2 + 2 * OFFICERS


# --- Customers and applications ---------------------------------------------------------------------


def _pan_pool() -> list[str]:
    """Real ciphertexts under the configured key ring: the admin decrypts every PAN it loads."""
    from applications.models.customers import PAN_CONTEXT
    from loanproject.core.crypto import get_key_ring

    ring = get_key_ring()
    return [ring.encrypt(f"{(4000_0000_0000_0000 + n * 7919):016d}", context=PAN_CONTEXT) for n in range(PAN_POOL)]


def _customers(sizes: Sizes, now: datetime) -> int:
    # Customer n (from 0) belongs to partner n % 3 and was created at an even pace over two years.
    return _execute(
        """
        INSERT INTO applications_customer (partner_id, external_ref, full_name, email, phone, address, push_token,
                                           pan, pan_hash, created_at, updated_at)
        SELECT p.ids[1 + n %% 3], 'CUST-' || lpad(n::text, 7, '0'), f.name || ' ' || l.name,
               lower(f.name) || '.' || lower(l.name) || '.' || n || '@example.com',
               '+1212' || lpad(n::text, 7, '0'), n || ' Main Street, New York, NY', '',
               (%(pans)s::text[])[1 + n %% %(pan_pool)s],
               encode(sha256(convert_to('bench-pan:' || n, 'UTF8')), 'hex'),
               ts, ts
          FROM generate_series(0::bigint, %(count)s - 1) n
         CROSS JOIN (SELECT array_agg(id ORDER BY code) AS ids FROM applications_partner) p
         CROSS JOIN LATERAL (SELECT %(now)s::timestamptz - interval '730 days' * (1 - n::float8 / %(count)s) AS ts) t
          JOIN unnest(%(first)s::text[]) WITH ORDINALITY f(name, i) ON f.i = 1 + n %% %(firsts)s
          JOIN unnest(%(last)s::text[]) WITH ORDINALITY l(name, i) ON l.i = 1 + (n / %(firsts)s) %% %(lasts)s
         ORDER BY n
        """,
        {
            "count": sizes.customers,
            "now": now,
            "pans": _pan_pool(),
            "pan_pool": PAN_POOL,
            "first": list(FIRST_NAMES),
            "last": list(LAST_NAMES),
            "firsts": len(FIRST_NAMES),
            "lasts": len(LAST_NAMES),
        },
    )


# Per hundred applications: submitted 3, scoring 2, pre-approved 10, manual review 5, approved 10,
# rejected 30, withdrawn 10, booked 30.
_STATUS_OF_BUCKET = """
    CASE WHEN b < 3 THEN 'submitted' WHEN b < 5 THEN 'scoring' WHEN b < 15 THEN 'pre_approved'
         WHEN b < 20 THEN 'manual_review' WHEN b < 30 THEN 'approved' WHEN b < 60 THEN 'rejected'
         WHEN b < 70 THEN 'withdrawn' ELSE 'booked' END
"""


def _applications(sizes: Sizes, now: datetime) -> int:
    """Two applications per customer (n and n + customers), submitted within a month of the
    customer's creation, in every status; the ones in manual review are in officers' queues."""
    return _execute(
        f"""
        WITH shaped AS (
            SELECT n, c.id AS customer_id, c.partner_id, s.status,
                   least(c.created_at + interval '1 minute' * ((n * 7919) %% 43200), %(now)s::timestamptz - interval '1 minute')
                       AS submitted_at,
                   1000 + ((n * 104729) %% 590) * 100 AS amount
              FROM generate_series(0::bigint, %(count)s - 1) n
              JOIN applications_customer c ON c.id = %(first_customer)s + n %% %(customers)s
             CROSS JOIN LATERAL (SELECT (n * 7) %% 100 AS b) bucket
             CROSS JOIN LATERAL (SELECT {_STATUS_OF_BUCKET} AS status) s
        )
        INSERT INTO applications_loanapplication (
            id, partner_id, customer_id, external_ref, requested_amount, approved_amount, term_months, purpose,
            interest_rate, annual_income, employment_status, employment_duration_months, existing_debts,
            monthly_debt_payments, credit_score, total_payments, late_payments, utilization, credit_inquiries,
            credit_history_months, credit_mix, repayment_history, status, decision, risk_level, reasons, conditions,
            decision_note, assigned_to_id, assigned_at, version, submitted_at, updated_at, processed_at, decided_at)
        SELECT gen_random_uuid(), partner_id, customer_id, 'APP-' || lpad(n::text, 8, '0'), amount,
               CASE WHEN status IN ('approved', 'booked') THEN amount END,
               (ARRAY[12, 24, 36, 48])[1 + n %% 4],
               (ARRAY['vehicle', 'home_improvement', 'debt_consolidation', 'education', 'medical', 'business',
                      'personal', 'other'])[1 + n %% 8],
               CASE WHEN status IN ('pre_approved', 'approved', 'booked') THEN 9.50 END,
               20000 + ((n * 37) %% 180) * 1000,
               (ARRAY['employed', 'employed', 'employed', 'employed', 'self_employed', 'retired', 'student',
                      'unemployed'])[1 + (n / 3) %% 8],
               (n * 13) %% 120, ((n * 17) %% 40) * 500, ((n * 19) %% 40) * 50,
               CASE WHEN status NOT IN ('submitted', 'scoring') THEN 450 + (n * 31) %% 400 END,
               100, n %% 20, (n * 23) %% 100, n %% 6, (n * 29) %% 240,
               '["credit_card", "auto_loan"]'::jsonb, '[]'::jsonb, status,
               CASE WHEN status = 'booked' THEN 'approved'
                    WHEN status IN ('pre_approved', 'manual_review', 'approved', 'rejected') THEN status ELSE '' END,
               CASE WHEN status IN ('submitted', 'scoring') THEN ''
                    ELSE (ARRAY['low', 'medium', 'high', 'very_high'])[1 + (n / 7) %% 4] END,
               CASE WHEN status = 'rejected' THEN '[{{"code": "score", "text": "Credit score below policy"}}]'::jsonb
                    ELSE '[]'::jsonb END,
               '[]'::jsonb, '',
               CASE WHEN status = 'manual_review' THEN (%(officers)s::int[])[1 + n %% %(officer_count)s] END,
               CASE WHEN status = 'manual_review' THEN submitted_at + interval '2 minutes' END,
               CASE WHEN status IN ('submitted', 'scoring') THEN 1 WHEN status IN ('booked', 'approved') THEN 3 ELSE 2 END,
               submitted_at,
               submitted_at + CASE WHEN status IN ('approved', 'booked', 'withdrawn') THEN interval '2 days'
                                   ELSE interval '2 minutes' END,
               CASE WHEN status NOT IN ('submitted', 'scoring') THEN submitted_at + interval '2 minutes' END,
               CASE WHEN status IN ('pre_approved', 'rejected') THEN submitted_at + interval '2 minutes'
                    WHEN status IN ('approved', 'booked') THEN submitted_at + interval '1 day' END
          FROM shaped
         ORDER BY submitted_at
        """,
        {
            "count": sizes.applications,
            "customers": sizes.customers,
            "first_customer": _scalar("SELECT min(id) FROM applications_customer"),
            "now": now,
            "officers": _officer_ids(),
            "officer_count": OFFICERS,
        },
    )


def _officer_ids() -> list[int]:
    from applications.models import Reviewer

    return list(Reviewer.objects.filter(role="officer").order_by("pk").values_list("user_id", flat=True))


# --- Drivers, loans, installments --------------------------------------------------------------------


def _loans(sizes: Sizes, this_sunday: date) -> int:
    """One driver per loan with a lease and a LOANS receivable; loan 0 has 520 weekly installments
    and started two years ago, the others 104 and started over the last two years."""
    from django.contrib.auth import get_user_model

    from loans.accounts import cash_account, interest_income_account, principal_account

    cash_account(), principal_account(), interest_income_account()  # the chart of accounts
    user_id = get_user_model().objects.get(username=SUPERUSER).pk
    count = sizes.loans + 1
    params = {"count": count, "first": list(FIRST_NAMES), "last": list(LAST_NAMES), "firsts": len(FIRST_NAMES)}
    rows = _execute(
        """
        INSERT INTO loans_driver (tlc_license_number, full_name, email, phone, status, created_at, updated_at)
        SELECT '5' || lpad(n::text, 7, '0'), f.name || ' ' || l.name || ' ' || n,
               'driver' || n || '@example.com', '+1917' || lpad(n::text, 7, '0'), 'active', now(), now()
          FROM generate_series(0::bigint, %(count)s - 1) n
          JOIN unnest(%(first)s::text[]) WITH ORDINALITY f(name, i) ON f.i = 1 + (n * 7) %% %(firsts)s
          JOIN unnest(%(last)s::text[]) WITH ORDINALITY l(name, i) ON l.i = 1 + (n * 11) %% 40
         ORDER BY n
        """,
        params,
    )
    # Loan n starts (n * 7919) mod 104 weeks before the backlog; loan 0 starts 104 weeks before it.
    # About half of the installments are then due before the backlog (posted).
    start = "(%(this_sunday)s::date - (7 * (%(backlog)s + CASE WHEN n = 0 THEN 104 ELSE (n * 7919) %% 104 END))::int)"
    rows += _execute(
        f"""
        INSERT INTO loans_lease (driver_id, lease_number, medallion_number, vehicle_vin, vehicle_plate, start_date,
                                 weekly_fee, created_at)
        SELECT d.id, 'LS-' || lpad(n::text, 7, '0'), (n %% 9 + 1) || 'X' || lpad((n %% 100)::text, 2, '0'), '',
               'T' || lpad(n::text, 6, '0') || 'C', {start} - 7, 0, now()
          FROM generate_series(0::bigint, %(count)s - 1) n
          JOIN loans_driver d ON d.tlc_license_number = '5' || lpad(n::text, 7, '0')
        """,
        {**params, "this_sunday": this_sunday, "backlog": BACKLOG_WEEKS},
    )
    rows += _execute(
        """
        INSERT INTO ledger_account (code, name, type, currency, party_type, party_id, category, is_active, created_at)
        SELECT 'loans.driver:' || d.id || ':LOANS:USD', left(d.full_name, 150) || ' Loans', 'asset', 'USD',
               'loans.driver', d.id::text, 'LOANS', true, now()
          FROM loans_driver d ORDER BY d.id
        """
    )
    rows += _execute(
        f"""
        INSERT INTO loans_driverloan (loan_number, driver_id, lease_id, principal, annual_interest_rate, frequency,
                                     method, start_week, installment_count, purpose, status, created_by_id,
                                     receivable_account_id, created_at,
                                     -- The booked terms' copies (loans.models.DriverLoan), as booking without a
                                     -- product writes them.
                                     currency_digits, in_multiples_of, installment_ceiling, flat_interest_last_absorbs,
                                     principal_grace_periods, origination_fee, origination_fee_collection,
                                     late_fee_kind, late_fee_grace_days, late_fee_amount, late_fee_percent)
        SELECT 'DL-' || extract(year FROM {start} - 7)::int || '-' || lpad((n + 1)::text, 5, '0'), d.id, ls.id,
               CASE WHEN n = 0 THEN 26000.00 ELSE (ARRAY[2600.00, 5200.00, 7800.00])[1 + n %% 3] END, 10.000,
               'weekly', 'annuity', {start}, CASE WHEN n = 0 THEN %(long)s ELSE %(weeks)s END, 'Vehicle repairs',
               'active', %(user)s, a.id, ({start} - 7)::timestamp AT TIME ZONE 'America/New_York',
               2, 0, false, false, 0, 0, '', 'none', 0, 0, 0
          FROM generate_series(0::bigint, %(count)s - 1) n
          JOIN loans_driver d ON d.tlc_license_number = '5' || lpad(n::text, 7, '0')
          JOIN loans_lease ls ON ls.driver_id = d.id
          JOIN ledger_account a ON a.party_type = 'loans.driver' AND a.party_id = d.id::text AND a.category = 'LOANS'
         ORDER BY {start}, n
        """,
        {
            **params,
            "this_sunday": this_sunday,
            "backlog": BACKLOG_WEEKS,
            "user": user_id,
            "long": LONG_LOAN_INSTALLMENTS,
            "weeks": LOAN_INSTALLMENTS,
        },
    )
    # Later loans get the next numbers of their year.
    rows += _execute(
        """
        INSERT INTO loans_loannumbercounter (year, last_number)
        SELECT split_part(loan_number, '-', 2)::int, max(split_part(loan_number, '-', 3)::int)
          FROM loans_driverloan GROUP BY 1
        """
    )
    return rows


def _installments(this_sunday: date) -> int:
    """The loans' schedules from schedules.build_schedule (one per loan shape), shifted to each
    loan's start week."""
    from loans.schedules import build_schedule

    template_start = date(2024, 1, 7)  # a Sunday
    shapes = [(Decimal("26000.00"), LONG_LOAN_INSTALLMENTS)] + [
        (Decimal(p), LOAN_INSTALLMENTS) for p in ("2600.00", "5200.00", "7800.00")
    ]
    # Version 1 of every loan (the booked schedule), as booking writes it.
    rows = _execute(
        """
        INSERT INTO loans_scheduleversion (loan_id, number, kind, from_sequence, balance, annual_interest_rate,
                                           installment_count, periods, capitalised_interest, reason, created_by_id,
                                           created_at)
        SELECT id, 1, 'booked', 1, principal, annual_interest_rate, installment_count, 0, 0, '', created_by_id,
               created_at
          FROM loans_driverloan
        """
    )
    for principal, count in shapes:
        schedule = build_schedule(
            principal=principal, annual_rate_percent=Decimal("10"), installment_count=count, start=template_start
        )
        rows += _execute(
            """
            INSERT INTO loans_installment (loan_id, schedule_version_id, sequence, due_date, principal, interest,
                                           amount, balance_after, status, posting_attempt)
            SELECT l.id, v.id, s.sequence, l.start_week + (s.sequence - 1) * 7, s.principal, s.interest,
                   s.principal + s.interest, s.balance_after, 'scheduled', 1
              FROM loans_driverloan l JOIN loans_scheduleversion v ON v.loan_id = l.id AND v.number = 1
             CROSS JOIN unnest(%(sequence)s::int[], %(principal)s::numeric[], %(interest)s::numeric[],
                               %(balance)s::numeric[]) AS s(sequence, principal, interest, balance_after)
             WHERE l.principal = %(loan_principal)s AND l.installment_count = %(count)s
             ORDER BY l.start_week + (s.sequence - 1) * 7, l.id
            """,
            {
                "sequence": [row.sequence for row in schedule],
                "principal": [row.principal for row in schedule],
                "interest": [row.interest for row in schedule],
                "balance": [row.balance_after for row in schedule],
                "loan_principal": principal,
                "count": count,
            },
        )
    return rows


# --- The ledger --------------------------------------------------------------------------------------


def _disbursements() -> int:
    """Each loan's disbursement entry, as loans.services books it: principal account debited,
    cash credited."""
    from loans.accounts import cash_account, principal_account

    return _execute(
        """
        WITH entries AS (
            INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_by_id, created_at)
            SELECT 'loans.disbursement:' || l.loan_number, l.start_week - 7,
                   'Disbursement of ' || l.loan_number || ' to ' || d.full_name, 'loans.disbursement',
                   l.created_by_id, l.created_at
              FROM loans_driverloan l JOIN loans_driver d ON d.id = l.driver_id
             ORDER BY l.id
            RETURNING id, idempotency_key
        ), linked AS (
            SELECT l.id AS loan_id, l.principal, e.id AS entry_id
              FROM entries e JOIN loans_driverloan l ON e.idempotency_key = 'loans.disbursement:' || l.loan_number
        ), legs AS (
            INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
            SELECT entry_id, %(principal_account)s, principal, 0, 'USD' FROM linked
            UNION ALL SELECT entry_id, %(cash)s, 0, principal, 'USD' FROM linked
        )
        UPDATE loans_driverloan l SET disbursement_entry_id = linked.entry_id FROM linked WHERE l.id = linked.loan_id
        """,
        {"principal_account": principal_account().pk, "cash": cash_account().pk},
    )


_POST_WEEKS_SQL = """
WITH due AS (
    SELECT i.id, i.due_date, i.sequence, i.principal, i.interest, i.amount, l.receivable_account_id AS receivable,
           l.loan_number, l.installment_count, 'loans.installment:' || i.id || ':' || i.posting_attempt AS key,
           (i.due_date + 7)::timestamp AT TIME ZONE 'America/New_York' + interval '6 hours' AS posted_at
      FROM loans_installment i JOIN loans_driverloan l ON l.id = i.loan_id
     WHERE i.status = 'scheduled' AND i.due_date >= %(first)s AND i.due_date < %(until)s
), entries AS (
    INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_by_id, created_at)
    SELECT key, due_date, loan_number || ' installment ' || sequence || '/' || installment_count,
           'loans.installment', %(user)s, posted_at
      FROM due ORDER BY due_date, id
    RETURNING id, idempotency_key
), linked AS (
    SELECT d.*, e.id AS entry_id FROM due d JOIN entries e ON e.idempotency_key = d.key
), legs AS (
    INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
    SELECT entry_id, receivable, amount, 0, 'USD' FROM linked
    UNION ALL SELECT entry_id, %(principal_account)s, 0, principal, 'USD' FROM linked
    UNION ALL SELECT entry_id, %(interest_account)s, 0, interest, 'USD' FROM linked WHERE interest > 0
), items AS (
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT receivable, entry_id, amount, amount, due_date, 'open', loan_number || ' #' || sequence FROM linked
)
UPDATE loans_installment i
   SET status = 'posted', posted_entry_id = linked.entry_id, posted_at = linked.posted_at, posting_run_id = r.id
  FROM linked JOIN loans_installmentpostingrun r ON r.period_start = linked.due_date
 WHERE i.id = linked.id
"""


def _postings(this_sunday: date, log: Callable[[str], None]) -> int:
    """The weekly posting of every week before the backlog, in the shape claims.py books it
    (entry, receivable debit, principal and interest credits, open item), one run per week; a
    transaction per quarter, so the balance trigger checks each at its COMMIT."""
    from django.contrib.auth import get_user_model

    from loans.accounts import interest_income_account, principal_account

    until = this_sunday - timedelta(weeks=BACKLOG_WEEKS)
    first = _scalar("SELECT min(due_date) FROM loans_installment")
    if first is None or first >= until:
        return 0
    user_id = get_user_model().objects.get(username=SUPERUSER).pk
    _execute(
        """
        INSERT INTO loans_installmentpostingrun (period_start, period_end, started_by_id, started_at, finished_at,
                                                 chunk_size, chunks_total)
        SELECT w, w + 6, %(user)s, (w + 7)::timestamp AT TIME ZONE 'America/New_York' + interval '6 hours',
               (w + 7)::timestamp AT TIME ZONE 'America/New_York' + interval '6 hours 5 minutes', 5000, 0
          FROM generate_series(%(first)s::date, %(until)s::date - 7, interval '7 days') g(t)
         CROSS JOIN LATERAL (SELECT t::date AS w) week
        """,
        {"user": user_id, "first": first, "until": until},
    )
    params = {
        "user": user_id,
        "principal_account": principal_account().pk,
        "interest_account": interest_income_account().pk,
    }
    posted, start = 0, first
    while start < until:
        end = min(start + timedelta(weeks=13), until)
        posted += _execute(_POST_WEEKS_SQL, {**params, "first": start, "until": end})
        log(f"      posted through {end - timedelta(days=1)}: {posted:,} installments")
        start = end
    return posted


def _payments(today: date) -> int:
    """Some posted items paid in full, each by one payment as the payment service books it: cash
    debited, the receivable credited, an allocation, the item closed."""
    from loans.accounts import cash_account

    return _execute(
        """
        WITH paid AS (
            SELECT o.id AS item_id, o.account_id, o.amount, d.id AS driver_id, d.full_name,
                   least(o.due_date + 2, %(today)s::date) AS received_on
              FROM ledger_openitem o
              JOIN ledger_account a ON a.id = o.account_id
              JOIN loans_driver d ON d.id::text = a.party_id
             WHERE a.party_type = 'loans.driver' AND (o.id * 7919) %% 100 < %(share)s
        ), entries AS (
            INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_at)
            SELECT 'loans.payment:' || driver_id || ':bench-' || item_id, received_on, 'Payment from ' || full_name,
                   'ledger.payment', received_on::timestamp AT TIME ZONE 'America/New_York' + interval '10 hours'
              FROM paid ORDER BY received_on, item_id
            RETURNING id, idempotency_key
        ), linked AS (
            SELECT p.*, e.id AS entry_id
              FROM paid p JOIN entries e ON e.idempotency_key = 'loans.payment:' || p.driver_id || ':bench-' || p.item_id
        ), legs AS (
            INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
            SELECT entry_id, %(cash)s, amount, 0, 'USD' FROM linked
            UNION ALL SELECT entry_id, account_id, 0, amount, 'USD' FROM linked
        ), allocations AS (
            INSERT INTO ledger_paymentallocation (payment_entry_id, item_id, amount)
            SELECT entry_id, item_id, amount FROM linked
        )
        UPDATE ledger_openitem o
           SET outstanding = 0, status = 'closed',
               closed_at = linked.received_on::timestamp AT TIME ZONE 'America/New_York' + interval '10 hours'
          FROM linked WHERE o.id = linked.item_id
        """,
        {"today": today, "share": PAID_SHARE_PERCENT, "cash": cash_account().pk},
    )


# --- Personal finance ----------------------------------------------------------------------------------


def _bank_accounts(sizes: Sizes, now: datetime) -> int:
    """Every tenth customer: a manual connection (no token) with a checking and a savings account."""
    rows = _execute(
        """
        INSERT INTO finance_bankconnection (customer_id, provider, institution_id, institution_name, item_id,
                                            status, last_error, created_at, updated_at)
        SELECT c.id, 'manual', '', (ARRAY['Chase', 'Bank of America', 'Citibank', 'Wells Fargo'])[1 + c.id %% 4], '',
               'active', '', c.created_at, c.created_at
          FROM applications_customer c
         WHERE (c.id - %(first_customer)s) %% %(every)s = 0
         ORDER BY c.id
        """,
        {"first_customer": _scalar("SELECT min(id) FROM applications_customer"), "every": BANKED_EVERY},
    )
    rows += _execute(
        """
        INSERT INTO finance_account (connection_id, customer_id, provider_account_id, name, mask, type, subtype,
                                     current_balance, available_balance, currency, created_at, updated_at)
        SELECT b.id, b.customer_id, 'acc-' || b.id || '-' || k, t.name, lpad(((b.id * 31 + k) %% 10000)::text, 4, '0'),
               t.type, '', ((b.id * 37 + k * 101) %% 900000) / 100.0 + 100, NULL, 'USD', b.created_at, b.created_at
          FROM finance_bankconnection b
         CROSS JOIN (VALUES (1, 'checking', 'Checking'), (2, 'savings', 'Savings')) t(k, type, name)
         ORDER BY b.id, t.k
        """
    )
    return rows


def _transactions(today: date) -> int:
    """Ten transactions per account over two years: pay coming in, spending going out."""
    return _execute(
        """
        INSERT INTO finance_transaction (account_id, customer_id, partner_id, provider_transaction_id, date, amount,
                                         name, merchant_name, category, pending, imported_at)
        SELECT a.id, a.customer_id, c.partner_id, 'tx-' || a.id || '-' || k, day,
               CASE WHEN k = 0 THEN 2500.00 + a.id %% 2000 ELSE -(((a.id * 53 + k * 97) %% 25000) / 100.0 + 1) END,
               CASE WHEN k = 0 THEN 'ACME PAYROLL' ELSE upper(m.merchant) || ' #' || (a.id %% 900 + 100) END,
               CASE WHEN k = 0 THEN 'ACME Corp' ELSE m.merchant END,
               CASE WHEN k = 0 THEN 'payroll' ELSE m.category END,
               day > %(today)s::date - 3,
               day::timestamp AT TIME ZONE 'UTC' + interval '1 day'
          FROM finance_account a
          JOIN applications_customer c ON c.id = a.customer_id
         CROSS JOIN generate_series(0, %(per_account)s - 1) k
         CROSS JOIN LATERAL (SELECT %(today)s::date - ((a.id * 7 + k * 73) %% 730)::int AS day) d
          JOIN unnest(%(merchants)s::text[], %(categories)s::text[]) WITH ORDINALITY m(merchant, category, i)
            ON m.i = 1 + (a.id + k) %% %(merchant_count)s
         ORDER BY day, a.id, k
        """,
        {
            "today": today,
            "per_account": TRANSACTIONS_PER_ACCOUNT,
            "merchants": [name for name, _ in MERCHANTS],
            "categories": [category for _, category in MERCHANTS],
            "merchant_count": len(MERCHANTS),
        },
    )
