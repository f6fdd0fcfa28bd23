"""The application's database role cannot switch off the ledger's rules, and runs the back office.

A database set up as README's "Database roles" says: the roles and the database created with the
README's own SQL, `migrate` run as the owner with DATABASE_APP_ROLE (the README's command). Then,
connected as the app role, every way of silencing a rule is refused, and the demo data, logins,
the partner and staff APIs, a payment reversal and beat's start all work.

Today's single role is shown too: connected as the owner (or a superuser), the same attempts
succeed. Roles are cluster-wide: their names carry the test database's name and a random part,
and they are dropped with the database at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlparse

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import errors

from loanproject.core.database_roles import append_only_tables

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SERVER = urlparse(settings.TEST_DATABASE_URL)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def readme_block(language: str, containing: str) -> str:
    section = README.split("### Database roles", 1)[1].split("\n### ", 1)[0]
    return next(block for block in re.findall(rf"```{language}\n(.*?)```", section, flags=re.S) if containing in block)


SUPERUSER = SERVER.username or "postgres"
PASSWORDS: dict[str, str] = {SUPERUSER: SERVER.password or ""}  # and the README's, per role it creates


def url(role: str, database: str) -> str:
    login = f"{role}:{quote(PASSWORDS[role], safe='')}" if PASSWORDS.get(role) else role
    return f"postgres://{login}@{SERVER.netloc.rpartition('@')[2]}/{database}"  # host and port, or a socket


def connect(role: str, database: str, **options) -> psycopg.Connection:
    return psycopg.connect(url(role, database), connect_timeout=5, **options)


def manage(*arguments: str, role: str, database: str, **environment: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PROMETHEUS_MULTIPROC_DIR", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="loanproject.settings.development",
        DATABASE_URL=url(role, database),
        DJANGO_ALLOWED_HOSTS="testserver",
        **environment,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class Setup:
    def __init__(self, owner: str, app: str, database: str):
        self.owner, self.app, self.database = owner, app, database

    def as_owner(self, **options) -> psycopg.Connection:
        return connect(self.owner, self.database, **options)

    def as_app(self, **options) -> psycopg.Connection:
        return connect(self.app, self.database, **options)

    def as_superuser(self, **options) -> psycopg.Connection:
        return connect(SUPERUSER, self.database, **options)


@pytest.fixture(scope="module")
def setup():
    """Roles and database from the README's SQL (names made unique), migrated as the README says."""
    stem = f"{(SERVER.path or '/loanproject').lstrip('/')}_{secrets.token_hex(3)}"
    owner, app, database = f"{stem}_owner", f"{stem}_app", f"{stem}_roles"
    names = {"loans_owner": owner, "loans_app": app, "loans": database}
    statements = [
        re.sub(r"\b(loans_owner|loans_app|loans)\b", lambda match: names[match.group(1)], statement).strip()
        for statement in readme_block("sql", "CREATE ROLE").split(";")
        if statement.strip()
    ]
    PASSWORDS.update(re.findall(r"CREATE ROLE (\S+) LOGIN PASSWORD '([^']*)'", "\n".join(statements)))
    with connect(SUPERUSER, "postgres", autocommit=True) as admin:
        try:
            for statement in statements:
                admin.execute(statement)
            migrate = readme_block("bash", "manage.py migrate").splitlines()[0]
            assert (
                migrate.startswith("DATABASE_URL=postgres://loans_owner:...@")
                and "DATABASE_APP_ROLE=loans_app" in migrate
            )
            manage("migrate", "--noinput", "-v0", role=owner, database=database, DATABASE_APP_ROLE=app)
            yield Setup(owner, app, database)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{app}"')
            admin.execute(f'DROP ROLE IF EXISTS "{owner}"')


SCRIPT = """
import json
from io import StringIO

from django.core.management import call_command
from django.test import Client

from ledger.models import JournalEntry, Posting
from loanproject.celery import app
from loanproject.core.beat import DatabaseScheduler
from loanproject.demo.seed import DEMO_API_KEY, DEMO_STAFF_TOKEN

call_command("load_demo_data", "--password", "demo-pass-123", stdout=StringIO())
staff = Client()
summary = {"login": staff.login(username="fiona.finance", password="demo-pass-123")}
summary["pages"] = [staff.get(page).status_code for page in (
    "/admin/", "/admin/loans/driverloan/", "/admin/ledger/journalentry/", "/admin/django_celery_beat/periodictask/")]
summary["partner_api"] = len(Client().get("/api/v1/applications/", HTTP_AUTHORIZATION=f"Api-Key {DEMO_API_KEY}").json()["results"])
payment = JournalEntry.objects.filter(source="ledger.payment").order_by("pk").first()
driver = payment.postings.exclude(account__party_type="").values_list("account__party_id", flat=True).first()
asked = Client().post(
    f"/api/v1/drivers/{driver}/payments/{payment.pk}/reversal/", {"reason": "bounced"},
    content_type="application/json", HTTP_AUTHORIZATION=f"Token {DEMO_STAFF_TOKEN}")
checker = Client()
checker.login(username="admin", password="demo-pass-123")
summary["reversal"] = (asked.status_code, checker.post(
    f"/api/v1/approval-requests/{asked.json()['id']}/approve/", {}, content_type="application/json").status_code)
summary["reversed"] = JournalEntry.objects.filter(reversal_of=payment).count()
call_command("relay_outbox", stdout=StringIO())
call_command("post_installments", "--json", stdout=StringIO(), stderr=StringIO())
out = StringIO()
call_command("purge_outbox", "--dry-run", "--json", stdout=out)
summary["purge"] = sorted(json.loads(out.getvalue()))
DatabaseScheduler(app=app)  # what beat's start does
summary["entries_balance"] = all(
    sum(p.debit for p in entry.postings.all()) == sum(p.credit for p in entry.postings.all())
    for entry in JournalEntry.objects.prefetch_related("postings"))
summary["postings"] = Posting.objects.count()
print("SUMMARY " + json.dumps(summary))
"""


@pytest.fixture(scope="module")
def worked(setup):
    """The back office at work as the app role: demo data, logins, APIs, commands, beat."""
    out = manage("shell", "-c", SCRIPT, role=setup.app, database=setup.database)
    return json.loads(out.split("SUMMARY ", 1)[1])


def test_the_app_role_runs_the_back_office(worked):
    assert worked["login"] is True
    assert worked["pages"] == [200, 200, 200, 200]
    assert worked["partner_api"] == 10
    assert (worked["reversal"], worked["reversed"]) == ([202, 200], 1)  # asked by Finance, approved by another
    assert worked["purge"] and worked["entries_balance"] is True
    assert worked["postings"] > 40


def book_snapshot(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT (SELECT count(*) FROM ledger_journalentry), count(*), sum(debit), sum(credit) FROM ledger_posting"
    ).fetchone()


REFUSED = [
    (
        "ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_append_only",
        errors.InsufficientPrivilege,
        "must be owner of table ledger_posting",
    ),
    (
        "ALTER TABLE ledger_journalentry DISABLE TRIGGER ALL",
        errors.InsufficientPrivilege,
        "must be owner of table ledger_journalentry",
    ),
    (
        "DROP TRIGGER ledger_posting_append_only ON ledger_posting",
        errors.InsufficientPrivilege,
        "must be owner of relation ledger_posting",
    ),
    (
        "SET session_replication_role = replica",
        errors.InsufficientPrivilege,
        'permission denied to set parameter "session_replication_role"',
    ),
    (
        ("SET ledger.allow_truncate = 'on'", "TRUNCATE ledger_posting"),
        errors.InsufficientPrivilege,
        "permission denied for table ledger_posting",
    ),
    (
        ("SET ledger.allow_truncate = 'on'", "TRUNCATE ledger_journalentry CASCADE"),
        errors.InsufficientPrivilege,
        "permission denied for table ledger_journalentry",
    ),
    (
        "UPDATE ledger_posting SET debit = debit + 1 WHERE debit > 0",
        errors.InsufficientPrivilege,
        "permission denied for table ledger_posting",
    ),
    (
        "UPDATE ledger_posting SET id = id",
        errors.RestrictViolation,
        "ledger_posting is append-only: UPDATE refused; book a reversing entry instead",
    ),
    (
        "UPDATE ledger_journalentry SET id = id",
        errors.RestrictViolation,
        "ledger_journalentry is append-only: UPDATE refused; book a reversing entry instead",
    ),
    ("DELETE FROM ledger_posting", errors.InsufficientPrivilege, "permission denied for table ledger_posting"),
    (
        "DELETE FROM ledger_journalentry",
        errors.InsufficientPrivilege,
        "permission denied for table ledger_journalentry",
    ),
    (
        "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        errors.InsufficientPrivilege,
        "permission denied for schema public",
    ),
    (
        "ALTER FUNCTION ledger_check_entries_balance() RESET search_path",
        errors.InsufficientPrivilege,
        "must be owner of function ledger_check_entries_balance",
    ),
    ("CREATE TABLE ledger_shadow (id int)", errors.InsufficientPrivilege, "permission denied for schema public"),
    (
        "INSERT INTO django_migrations (app, name, applied) VALUES ('ledger', '9999_off', now())",
        errors.InsufficientPrivilege,
        "permission denied for table django_migrations",
    ),
]


REFUSED_IDS = [
    "disable-trigger",
    "disable-all-triggers",
    "drop-trigger",
    "replication-role",
    "truncate-postings",
    "truncate-entries",
    "update-amount",
    "update-posting-key",
    "update-entry-key",
    "delete-postings",
    "delete-entries",
    "replace-function",
    "unpin-function",
    "create-table",
    "fake-migration",
]


@pytest.mark.parametrize("statement, error, message", REFUSED, ids=REFUSED_IDS)
def test_the_app_role_cannot_switch_off_the_rules(setup, worked, statement, error, message):
    with setup.as_app() as conn:
        before = book_snapshot(conn)
        conn.rollback()

        with pytest.raises(error) as refused, conn.transaction():
            for part in (statement,) if isinstance(statement, str) else statement:
                conn.execute(part)

        assert str(refused.value).splitlines()[0] == message
        assert book_snapshot(conn) == before and before[1] > 40


def test_the_app_role_cannot_commit_an_unbalanced_entry(setup, worked):
    with setup.as_app() as conn:
        before = book_snapshot(conn)
        account = conn.execute("SELECT id FROM ledger_account WHERE currency = 'USD' ORDER BY id LIMIT 1").fetchone()[0]
        conn.rollback()

        with (
            pytest.raises(errors.CheckViolation, match=r"journal entry \d+ does not balance in USD"),
            conn.transaction(),
        ):
            entry = conn.execute(
                "INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_at) "
                "VALUES ('app-role-unbalanced', '2026-01-04', 'x', 'x', now()) RETURNING id"
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency) "
                "VALUES (%s, %s, 10, 0, 'USD')",
                [entry, account],
            )

        assert book_snapshot(conn) == before


def test_as_the_owner_or_a_superuser_the_same_attempts_succeed(setup, worked):
    """Today's single role: whoever owns the tables (or is a superuser) silences the rules."""
    with setup.as_owner() as owner, owner.transaction(force_rollback=True):
        owner.execute("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_append_only")
        changed = owner.execute("UPDATE ledger_posting SET debit = debit + 1 WHERE debit > 0").rowcount
        owner.execute("SET LOCAL ledger.allow_truncate = 'on'")
        owner.execute("TRUNCATE ledger_posting, ledger_journalentry CASCADE")
        left = owner.execute("SELECT count(*) FROM ledger_posting").fetchone()[0]
    with setup.as_superuser() as superuser, superuser.transaction(force_rollback=True):
        superuser.execute("SET LOCAL session_replication_role = replica")
        deleted = superuser.execute("DELETE FROM ledger_posting WHERE debit > 0").rowcount

    assert changed > 20 and left == 0 and deleted > 20
    with setup.as_owner() as owner:
        assert book_snapshot(owner)[1] > 40  # all of it rolled back


def privileges(conn: psycopg.Connection, role: str) -> dict[str, set[str]]:
    """Every table of the schema and the privileges `role` holds on it."""
    rows = conn.execute(
        """
        SELECT t.tablename, array_remove(array_agg(p.name ORDER BY p.name)
                                         FILTER (WHERE has_table_privilege(%s, quote_ident(t.tablename), p.name)), NULL)
          FROM pg_tables t CROSS JOIN unnest(%s::text[]) AS p(name)
         WHERE t.schemaname = current_schema()
         GROUP BY t.tablename
        """,
        [role, list(PRIVILEGES)],
    ).fetchall()
    return {table: set(granted or []) for table, granted in rows}


def test_the_app_role_holds_exactly_its_privileges_and_applying_them_again_changes_nothing(setup, worked):
    ordinary = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    expected_special = {
        "ledger_journalentry": {"SELECT", "INSERT"},
        "ledger_posting": {"SELECT", "INSERT"},
        "loans_collectionnote": {"SELECT", "INSERT"},
        "django_migrations": {"SELECT"},
    }
    with setup.as_owner() as conn:
        granted = privileges(conn, setup.app)
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
            "pg_has_role(%s, %s, 'MEMBER'), has_schema_privilege(%s, 'public', 'CREATE') "
            "FROM pg_roles WHERE rolname = %s",
            [setup.app, setup.owner, setup.app, setup.app],
        ).fetchone()
        columns = [
            conn.execute("SELECT has_column_privilege(%s, %s, %s, 'UPDATE')", [setup.app, table, column]).fetchone()[0]
            for table, column in [
                ("ledger_journalentry", "id"),
                ("ledger_posting", "id"),
                ("ledger_posting", "debit"),
                ("ledger_journalentry", "description"),
            ]
        ]

    assert len(granted) > 40 and {"django_session", "django_celery_beat_periodictask", "auditlog_logentry"} <= set(
        granted
    )
    assert {table: found for table, found in granted.items() if found != expected_special.get(table, ordinary)} == {}
    assert role == (False, False, False, False, False, False)
    assert columns == [True, True, False, False]

    printed = manage("grant_app_role", setup.app, "--print", role=setup.owner, database=setup.database)
    applied = manage("grant_app_role", setup.app, role=setup.owner, database=setup.database)

    assert 'REVOKE UPDATE, DELETE ON "ledger_journalentry", "ledger_posting", "loans_collectionnote" FROM' in printed
    assert (
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{setup.owner}" IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES'
        in printed
    )
    assert applied == f"{setup.app}: {len(printed.splitlines())} grant statements applied.\n"
    with setup.as_owner() as conn:
        assert privileges(conn, setup.app) == granted


def test_a_table_a_later_migration_creates_is_granted_at_once(setup, worked):
    with setup.as_owner() as conn:
        conn.execute("CREATE TABLE ops_added_later (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
        granted = privileges(conn, setup.app)["ops_added_later"]
        sequence = conn.execute(
            "SELECT has_sequence_privilege(%s, 'ops_added_later_id_seq', 'USAGE')", [setup.app]
        ).fetchone()[0]
        conn.rollback()

    assert (granted, sequence) == ({"SELECT", "INSERT", "UPDATE", "DELETE"}, True)


@pytest.mark.django_db
def test_the_command_refuses_a_superuser_and_a_missing_role_and_changes_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        tests_role, superuser = cursor.fetchone()
    assert superuser  # the tests connect as a superuser (they ALTER DATABASE)

    with pytest.raises(CommandError) as as_superuser:
        call_command("grant_app_role", tests_role)
    with pytest.raises(CommandError) as missing:
        call_command("grant_app_role", "nobody_ops_missing_role")

    assert (
        str(as_superuser.value) == f"Not granted to {tests_role}: {tests_role} is a superuser or bypasses row security."
    )
    assert str(missing.value) == (
        "Not granted to nobody_ops_missing_role: role nobody_ops_missing_role does not exist: "
        "create it first (README, Database roles)."
    )


@pytest.mark.django_db
def test_every_table_whose_triggers_refuse_changes_is_declared_append_only():
    """A future append-only table keeps its narrow grant only if its app declares it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
               AND t.tgtype & 2 = 2                 -- BEFORE
               AND t.tgtype & (8 | 32) <> 0         -- DELETE or TRUNCATE
             ORDER BY 1
            """
        )
        guarded = [name for (name,) in cursor.fetchall()]

    assert (
        guarded
        == [table.table for table in append_only_tables()]
        == ["ledger_journalentry", "ledger_posting", "loans_collectionnote"]
    )


@pytest.mark.django_db
def test_every_trigger_function_reads_its_tables_through_a_pinned_search_path():
    """Otherwise a session's temporary table of the same name stands in for the real one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT p.proname, p.proconfig FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND p.pronamespace = current_schema()::regnamespace"
        )
        functions = dict(cursor.fetchall())

    assert {"ledger_check_entries_balance", "ledger_note_postings", "ledger_refuse_change"} <= set(functions)
    unpinned = {
        name for name, config in functions.items() if not any(c.startswith("search_path=") for c in config or [])
    }
    assert unpinned == set()
