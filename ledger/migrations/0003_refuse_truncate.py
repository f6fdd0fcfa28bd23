"""TRUNCATE empties a table without a row trigger firing: the append-only triggers of 0002 never
see it. Statement triggers refuse it on postings and entries too.

The one legitimate TRUNCATE is a test database being emptied between transactional tests
(Django's flush): a session (or the test database, `ALTER DATABASE ... SET`) that sets
`ledger.allow_truncate = 'on'` may. No production setting or role sets it.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION ledger_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('ledger.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: TRUNCATE refused; book reversing entries instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_append_only';
END $$;

CREATE TRIGGER ledger_posting_no_truncate
    BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();

CREATE TRIGGER ledger_journalentry_no_truncate
    BEFORE TRUNCATE ON ledger_journalentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();
"""

REVERSE = r"""
DROP TRIGGER ledger_journalentry_no_truncate ON ledger_journalentry;
DROP TRIGGER ledger_posting_no_truncate ON ledger_posting;
DROP FUNCTION ledger_refuse_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_book_triggers")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE, elidable=False)]
