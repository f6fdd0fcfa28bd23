"""The database fills `Transaction.partner` from the customer and keeps it equal from then on.

Partner scopes filter on the transaction's own partner column (so an index can start with it),
and a copy that drifted from the customer's would show a transaction to the wrong partner or
hide it from the right one. As in applications 0005, plain SQL:

- one UPDATE ... FROM copies every customer's partner while writes go on (about 40 s at a
  million rows on the 2-core machine); then the table is locked against writes (reads go on) for
  a second pass over the rows written meanwhile, the key and the triggers (a few seconds), so no
  row escapes both the backfill and the checks;
- the composite foreign key (customer_id, partner_id) -> customer (id, partner_id), checked at
  once (not deferred), refuses a transaction whose partner is not its customer's, and a change
  of a customer's partner while it has transactions;
- a foreign key does not check a row whose partner is NULL (MATCH SIMPLE), so two triggers cover
  that case: a partner-less transaction of a partner's customer, and a partner given to a
  customer that has partner-less (staff) transactions. Their functions pin their search_path
  (see PinFunctionSearchPath).

The partner-less check locks the customer row (FOR SHARE), so a transaction inserted while its
customer's partner is being set waits for that change instead of judging the old row.
"""

from django.db import migrations

from loanproject.core.migration_operations import PinFunctionSearchPath

BACKFILL = """
UPDATE finance_transaction t SET partner_id = c.partner_id
  FROM applications_customer c
 WHERE c.id = t.customer_id AND c.partner_id IS NOT NULL AND t.partner_id IS DISTINCT FROM c.partner_id;
"""

FORWARD = (
    """
-- The partner column's own (deferred) foreign key would queue a check per updated row until
-- COMMIT, and ALTER TABLE refuses a table with checks pending: they run at each statement's end.
SET CONSTRAINTS ALL IMMEDIATE;
"""
    + BACKFILL
    + """
LOCK TABLE finance_transaction IN SHARE ROW EXCLUSIVE MODE;
"""
    + BACKFILL  # the rows written during the first pass (under the lock, no more can come)
    + """
ALTER TABLE finance_transaction ADD CONSTRAINT transaction_partner_matches_customer
    FOREIGN KEY (customer_id, partner_id) REFERENCES applications_customer (id, partner_id);

CREATE FUNCTION finance_partnerless_transaction_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    customer_partner bigint;
BEGIN
    SELECT partner_id INTO customer_partner FROM applications_customer WHERE id = NEW.customer_id FOR SHARE;
    IF customer_partner IS NOT NULL THEN
        RAISE EXCEPTION 'transaction_partner_matches_customer: transaction % has no partner, its customer % has one',
            NEW.id, NEW.customer_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transaction_partner_matches_customer_on_insert
    BEFORE INSERT ON finance_transaction
    FOR EACH ROW WHEN (NEW.partner_id IS NULL)
    EXECUTE FUNCTION finance_partnerless_transaction_check();
-- Only when the pair changes: a save() writes every column, most often unchanged.
CREATE TRIGGER transaction_partner_matches_customer_on_update
    BEFORE UPDATE OF partner_id, customer_id ON finance_transaction
    FOR EACH ROW WHEN (
        NEW.partner_id IS NULL AND (OLD.partner_id IS NOT NULL OR OLD.customer_id <> NEW.customer_id)
    )
    EXECUTE FUNCTION finance_partnerless_transaction_check();

CREATE FUNCTION finance_customer_partner_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM finance_transaction WHERE customer_id = NEW.id AND partner_id IS NULL) THEN
        RAISE EXCEPTION 'transaction_partner_matches_customer: customer % has transactions without a partner',
            NEW.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customer_partner_matches_transactions
    BEFORE UPDATE OF partner_id ON applications_customer
    FOR EACH ROW WHEN (OLD.partner_id IS NULL AND NEW.partner_id IS NOT NULL)
    EXECUTE FUNCTION finance_customer_partner_check();
"""
)

REVERSE = """
DROP TRIGGER customer_partner_matches_transactions ON applications_customer;
DROP FUNCTION finance_customer_partner_check();
DROP TRIGGER transaction_partner_matches_customer_on_update ON finance_transaction;
DROP TRIGGER transaction_partner_matches_customer_on_insert ON finance_transaction;
DROP FUNCTION finance_partnerless_transaction_check();
ALTER TABLE finance_transaction DROP CONSTRAINT transaction_partner_matches_customer;
"""


class Migration(migrations.Migration):
    dependencies = [("applications", "0009_partner_checks_pin_search_path"), ("finance", "0005_transaction_partner")]

    operations = [
        migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE),
        PinFunctionSearchPath(["finance_partnerless_transaction_check()", "finance_customer_partner_check()"]),
    ]
