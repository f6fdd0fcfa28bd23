"""The database keeps `LoanApplication.partner` equal to its customer's partner.

Every partner scope filters on the application's own partner column, so a copy that drifted from
the customer's would show an application to the wrong partner or hide it from the right one.
Django has no composite foreign keys, so this is plain SQL, in the style of finance 0002:

- the composite foreign key (customer_id, partner_id) -> customer (id, partner_id), checked at
  once (not deferred), refuses an application whose partner is not its customer's, and a change
  of a customer's partner while it has applications;
- a foreign key does not check a row whose partner is NULL (MATCH SIMPLE), so two triggers cover
  that case: a partner-less application of a partner's customer, and a partner given to a
  customer that has partner-less (staff) applications.

A database whose rows already drifted fails this migration on purpose (the key's validation, and
a check for the partner-less rows the key skips): which partner is right is for a person to
decide, not for a migration. The key is added NOT VALID and validated after, so the big table is
scanned without blocking writes.

The partner-less check locks the customer row (FOR SHARE), so an application inserted while its
customer's partner is being set waits for that change instead of judging the old row.
"""

from django.db import migrations

DRIFT_CHECK = """
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM applications_loanapplication a JOIN applications_customer c ON c.id = a.customer_id
                WHERE a.partner_id IS NULL AND c.partner_id IS NOT NULL) THEN
        RAISE EXCEPTION 'application_partner_matches_customer: applications without a partner belong to a partner''s customer; '
                        'decide their partner before migrating';
    END IF;
END $$;
"""

FORWARD = DRIFT_CHECK + """
ALTER TABLE applications_loanapplication ADD CONSTRAINT application_partner_matches_customer
    FOREIGN KEY (customer_id, partner_id) REFERENCES applications_customer (id, partner_id) NOT VALID;
ALTER TABLE applications_loanapplication VALIDATE CONSTRAINT application_partner_matches_customer;

CREATE FUNCTION applications_partnerless_application_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    customer_partner bigint;
BEGIN
    SELECT partner_id INTO customer_partner FROM applications_customer WHERE id = NEW.customer_id FOR SHARE;
    IF customer_partner IS NOT NULL THEN
        RAISE EXCEPTION 'application_partner_matches_customer: application % has no partner, its customer % has one',
            NEW.id, NEW.customer_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER application_partner_matches_customer_on_insert
    BEFORE INSERT ON applications_loanapplication
    FOR EACH ROW WHEN (NEW.partner_id IS NULL)
    EXECUTE FUNCTION applications_partnerless_application_check();
-- Only when the pair changes: a save() writes every column, most often unchanged.
CREATE TRIGGER application_partner_matches_customer_on_update
    BEFORE UPDATE OF partner_id, customer_id ON applications_loanapplication
    FOR EACH ROW WHEN (
        NEW.partner_id IS NULL AND (OLD.partner_id IS NOT NULL OR OLD.customer_id <> NEW.customer_id)
    )
    EXECUTE FUNCTION applications_partnerless_application_check();

CREATE FUNCTION applications_customer_partner_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM applications_loanapplication WHERE customer_id = NEW.id AND partner_id IS NULL) THEN
        RAISE EXCEPTION 'application_partner_matches_customer: customer % has applications without a partner',
            NEW.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customer_partner_matches_applications
    BEFORE UPDATE OF partner_id ON applications_customer
    FOR EACH ROW WHEN (OLD.partner_id IS NULL AND NEW.partner_id IS NOT NULL)
    EXECUTE FUNCTION applications_customer_partner_check();
"""

REVERSE = """
DROP TRIGGER customer_partner_matches_applications ON applications_customer;
DROP FUNCTION applications_customer_partner_check();
DROP TRIGGER application_partner_matches_customer_on_update ON applications_loanapplication;
DROP TRIGGER application_partner_matches_customer_on_insert ON applications_loanapplication;
DROP FUNCTION applications_partnerless_application_check();
ALTER TABLE applications_loanapplication DROP CONSTRAINT application_partner_matches_customer;
"""


class Migration(migrations.Migration):
    dependencies = [("applications", "0004_customer_push_token_ciphertext_check_and_report_indexes")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE)]
