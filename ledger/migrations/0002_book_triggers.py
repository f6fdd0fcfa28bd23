"""The book's invariants in PostgreSQL, so that they hold for every writer, ORM or raw SQL.

1. Every entry balances per currency, checked at COMMIT by a DEFERRABLE INITIALLY DEFERRED
   constraint trigger (legs are written one statement after another; only the finished
   transaction can be judged). An entry also needs legs, and each leg is in its account's
   currency (a foreign key on (account, currency)).
2. Legs are added to an entry only in the transaction that creates it, and postings and entries
   are never updated or deleted: corrections are reversing entries.

Why the check is set-based. A constraint trigger fires once per row; checking the entry of each
row costs ~20 microseconds at commit, i.e. 20 s for the million entries of a big weekly posting.
Instead, statement-level triggers note "this transaction wrote entries" in
`ledger_pending_balance_check` (one row per transaction, ON CONFLICT DO NOTHING), and the
deferred constraint trigger on that table fires once at commit and checks, in one query, every
entry the transaction created (found through `created_txid`, stamped by a column default that no
writer may override). The row is deleted after the check, so a transaction that writes again
after `SET CONSTRAINTS ... IMMEDIATE` fired the check queues a new one.
"""

from django.db import migrations

FORWARD = r"""
-- A leg is kept in its account's currency: the foreign key to the account includes the currency
-- (it replaces the plain one Django made, so each leg still costs one key check).
ALTER TABLE ledger_account ADD CONSTRAINT account_id_currency_unique UNIQUE (id, currency);
DO $$ BEGIN
    EXECUTE (SELECT format('ALTER TABLE ledger_posting DROP CONSTRAINT %I', conname)
               FROM pg_constraint
              WHERE conrelid = 'ledger_posting'::regclass AND contype = 'f'
                AND confrelid = 'ledger_account'::regclass);
END $$;
ALTER TABLE ledger_posting ADD CONSTRAINT posting_account_in_its_currency
    FOREIGN KEY (account_id, currency) REFERENCES ledger_account (id, currency) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE ledger_journalentry ADD COLUMN created_txid bigint NOT NULL DEFAULT txid_current();
CREATE INDEX ledger_journalentry_created_txid_idx ON ledger_journalentry (created_txid);

CREATE TABLE ledger_pending_balance_check (txid bigint PRIMARY KEY);

CREATE FUNCTION ledger_note_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_entries WHERE created_txid <> txid_current()) THEN
        RAISE EXCEPTION 'a journal entry must carry the id of the transaction that creates it'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_created_txid_is_current';
    END IF;
    INSERT INTO ledger_pending_balance_check (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_noted
    AFTER INSERT ON ledger_journalentry REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_entries();

CREATE FUNCTION ledger_note_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed_entry bigint;
BEGIN
    SELECT e.id INTO closed_entry
      FROM new_postings p JOIN ledger_journalentry e ON e.id = p.entry_id
     WHERE e.created_txid <> txid_current()
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is closed: postings are added only in the transaction that creates the entry', closed_entry
            USING ERRCODE = 'check_violation', CONSTRAINT = 'posting_added_with_its_entry';
    END IF;
    INSERT INTO ledger_pending_balance_check (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_postings_noted
    AFTER INSERT ON ledger_posting REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_note_postings();

CREATE FUNCTION ledger_check_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- EXECUTE plans the query for this transaction id: an index scan over just its entries,
    -- and for each entry an index scan over its legs (a generic plan would scan every leg).
    EXECUTE $query$
        SELECT e.id AS entry_id, s.currency, coalesce(s.debits, 0) AS debits, coalesce(s.credits, 0) AS credits
          FROM ledger_journalentry e
          LEFT JOIN LATERAL (
                SELECT p.currency, sum(p.debit) AS debits, sum(p.credit) AS credits
                  FROM ledger_posting p
                 WHERE p.entry_id = e.id
                 GROUP BY p.currency
          ) s ON true
         WHERE e.created_txid = $1 AND (s.currency IS NULL OR s.debits <> s.credits)
         LIMIT 1
    $query$ INTO bad USING NEW.txid;
    IF bad.entry_id IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits %, credits %',
            bad.entry_id, coalesce(bad.currency, '(no legs)'), bad.debits, bad.credits
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balances';
    END IF;
    DELETE FROM ledger_pending_balance_check WHERE txid = NEW.txid;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balance
    AFTER INSERT ON ledger_pending_balance_check
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entries_balance();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused; book a reversing entry instead', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_append_only';
END $$;

CREATE TRIGGER ledger_posting_append_only
    BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_journalentry_append_only
    BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

REVERSE = r"""
DROP TRIGGER ledger_journalentry_append_only ON ledger_journalentry;
DROP TRIGGER ledger_posting_append_only ON ledger_posting;
DROP FUNCTION ledger_refuse_change();
DROP TRIGGER ledger_entries_balance ON ledger_pending_balance_check;
DROP FUNCTION ledger_check_entries_balance();
DROP TRIGGER ledger_postings_noted ON ledger_posting;
DROP FUNCTION ledger_note_postings();
DROP TRIGGER ledger_entries_noted ON ledger_journalentry;
DROP FUNCTION ledger_note_entries();
DROP TABLE ledger_pending_balance_check;
DROP INDEX ledger_journalentry_created_txid_idx;
ALTER TABLE ledger_journalentry DROP COLUMN created_txid;
ALTER TABLE ledger_posting DROP CONSTRAINT posting_account_in_its_currency;
ALTER TABLE ledger_posting ADD CONSTRAINT ledger_posting_account_id_fk_ledger_account_id
    FOREIGN KEY (account_id) REFERENCES ledger_account (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE ledger_account DROP CONSTRAINT account_id_currency_unique;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_book")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE, elidable=False)]
