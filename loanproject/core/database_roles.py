"""The application's own PostgreSQL role: it reads and writes the data, and cannot change the rules.

Production connects with two roles (README "Database roles"):
- the **owner** owns the database and every table, and runs `migrate` (DDL, triggers);
- the **app role** (web, Celery workers, beat) owns nothing and holds only the grants below.

Only a table's owner (or a superuser) may `ALTER TABLE ... DISABLE TRIGGER`, drop or replace a
trigger or its function, and only a superuser may `SET session_replication_role = replica` (which
silences every trigger): the app role can do none of it, so the ledger's append-only and balance
triggers hold for it whatever it runs. Its privileges:

- every table: SELECT, INSERT, UPDATE, DELETE; every sequence: USAGE, SELECT. No TRUNCATE (so
  `ledger.allow_truncate`, which any session may SET, gives it nothing), REFERENCES or TRIGGER,
  no CREATE on the schema;
- append-only tables (declared by their app: `AppConfig.append_only_models`, the ledger's journal
  entries and postings): SELECT, INSERT and UPDATE of the primary key column only. PostgreSQL
  requires an UPDATE privilege for `SELECT ... FOR UPDATE` (reversals lock the entry they
  reverse); an actual UPDATE, even of the key, is refused by the append-only trigger, and UPDATE
  of any other column or DELETE is refused by the privilege check itself;
- `django_migrations`: SELECT only (the application cannot mark a migration applied);
- default privileges: a table the owner creates later (a new migration) is granted the ordinary
  privileges at once. A new append-only table gets its narrower grant when the grants are applied
  again, which every `migrate` does at its end when DATABASE_APP_ROLE names the app role (or
  `manage.py grant_app_role`); until then its own trigger refuses UPDATE and DELETE, as the
  ledger's do. A test keeps the declarations equal to the tables that have such triggers.

The statements are idempotent: applying them again gives the same privileges.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from .db import column_of
from .errors import DomainError

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
READ_ONLY_TABLES = ("django_migrations",)


@dataclass(frozen=True)
class AppendOnlyTable:
    table: str
    key_column: str


def append_only_tables() -> list[AppendOnlyTable]:
    """The tables each app declares append-only (`append_only_models` on its AppConfig)."""
    tables = []
    for config in apps.get_app_configs():
        for model_name in getattr(config, "append_only_models", ()):
            meta = config.get_model(model_name)._meta
            tables.append(AppendOnlyTable(table=meta.db_table, key_column=column_of(meta.pk)))
    return sorted(tables, key=lambda table: table.table)


def _quoted(cursor: CursorWrapper, name: str) -> str:
    return sql.Identifier(name).as_string(cursor.connection)


def _current_user(cursor: CursorWrapper) -> str:
    cursor.execute("SELECT current_user")
    user: str = cursor.fetchone()[0]
    return user


def grant_statements(*, app_role: str, owner: str | None = None, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The SQL that gives `app_role` its privileges on this database (run by `owner`; default: the
    connection's own role)."""
    with connections[using].cursor() as cursor:
        owner = owner or _current_user(cursor)
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
        app, own, db, sch = (_quoted(cursor, name) for name in (app_role, owner, database, schema))
        append_only = append_only_tables()
        narrowed = ", ".join(_quoted(cursor, table.table) for table in append_only)
        read_only = ", ".join(_quoted(cursor, table) for table in READ_ONLY_TABLES)
        statements = [
            f"REVOKE CREATE ON SCHEMA {sch} FROM PUBLIC",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",
            f"GRANT USAGE ON SCHEMA {sch} TO {app}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM {app}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {sch} FROM {app}",
            f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {sch} TO {app}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {sch} TO {app}",
            f"REVOKE INSERT, UPDATE, DELETE ON {read_only} FROM {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA {sch} GRANT {TABLE_PRIVILEGES} ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA {sch} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ]
        if append_only:
            statements.append(f"REVOKE UPDATE, DELETE ON {narrowed} FROM {app}")
            statements += [
                f"GRANT UPDATE ({_quoted(cursor, table.key_column)}) ON {_quoted(cursor, table.table)} TO {app}"
                for table in append_only
            ]
    return statements


def _refusals(cursor: CursorWrapper, *, app_role: str, owner: str) -> list[str]:
    cursor.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname IN (%s, %s)", [app_role, owner])
    roles = {name: (superuser, bypass_rls) for name, superuser, bypass_rls in cursor.fetchall()}
    missing = [name for name in (app_role, owner) if name not in roles]
    if missing:
        return [f"role {name} does not exist: create it first (README, Database roles)" for name in missing]
    if any(roles[app_role]):
        return [f"{app_role} is a superuser or bypasses row security"]
    if app_role == owner:
        return [f"{app_role} is the owner: the application needs a role of its own"]
    refusals = []
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [app_role, owner])
    if cursor.fetchone()[0]:
        refusals.append(f"{app_role} is a member of {owner} and so acts as the owner")
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
         WHERE r.rolname = %s AND c.relnamespace = current_schema()::regnamespace
         UNION ALL
        SELECT p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
         WHERE r.rolname = %s AND p.pronamespace = current_schema()::regnamespace
         ORDER BY 1
        """,
        [app_role, app_role],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        refusals.append(
            f"{app_role} owns {', '.join(owned[:10])}{' ...' if len(owned) > 10 else ''}: "
            f"make {owner} their owner (ALTER ... OWNER TO)"
        )
    return refusals


@transaction.atomic
def grant_app_role(*, app_role: str, owner: str | None = None, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Give `app_role` exactly its privileges (module docstring), connected as the owner (default:
    the connection's own role). Refused, with nothing changed, when the role could act as the
    owner. Returns the statements run."""
    connection = connections[using]
    with connection.cursor() as cursor:
        owner = owner or _current_user(cursor)
        refusals = _refusals(cursor, app_role=app_role, owner=owner)
        if refusals:
            raise DomainError(f"Not granted to {app_role}: " + "; ".join(refusals) + ".")
        statements = grant_statements(app_role=app_role, owner=owner, using=using)
        for statement in statements:
            cursor.execute(statement)
    return statements


def grant_app_role_after_migrate(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """After migrate (core.apps.after_migrate): with DATABASE_APP_ROLE set, the grants are applied
    again, so the tables this migrate created get their privileges before the app uses them."""
    from django.conf import settings

    if not settings.DATABASE_APP_ROLE:
        return
    grant_app_role(app_role=settings.DATABASE_APP_ROLE, using=using)
