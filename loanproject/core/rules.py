"""Each rule the database enforces is defined once, in the database.

A service does not ask the database whether a write would break a unique, check or foreign-key
constraint (Django's `full_clean()` runs one `SELECT 1 ... LIMIT 1` per constraint and per
foreign key, and the answer may be stale by the time of the write). It validates the fields
(lengths, choices, validators: no query), writes inside `refusals_as_field_errors()`, and lets
the database refuse. REFUSALS maps the name of the constraint (or of a trigger's
`RAISE ... USING CONSTRAINT`) to the error users see; the API presents it as a 400 with field
messages, the admin as form errors. A refusal missing from the table is a bug, not bad input:
the IntegrityError goes on (a 500 that someone must look at).

Names are strings: core imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction

from .errors import Conflict
from .transactions import atomic_block


@dataclass(frozen=True)
class Refusal:
    field: str  # NON_FIELD_ERRORS for a rule between fields
    message: str
    conflict: str = ""  # a code: the value is taken (409 Conflict with this code), not wrong (400)

    def error(self) -> ValidationError | Conflict:
        if self.conflict:
            return Conflict(self.message, code=self.conflict, fields={self.field: [self.message]})
        return ValidationError({self.field: [self.message]})


def _violated(*names: str) -> dict[str, Refusal]:
    """Rules between fields that a form does not check first: Django's own sentence, as before."""
    return {name: Refusal(NON_FIELD_ERRORS, f"Constraint “{name}” is violated.") for name in names}


REFUSALS: dict[str, Refusal] = {
    # applications (the staff entry form checks no ranges: the database does)
    "applications_partner_name_key": Refusal("name", "Partner with this Name already exists."),
    "applications_reviewer_user_id_key": Refusal("user", "Reviewer with this User already exists."),
    **_violated(
        "application_requested_amount_positive",
        "application_money_non_negative",
        "application_credit_score_300_900",
        "application_utilization_percent",
        "application_late_within_total_payments",
        "application_interest_rate_percent",
        "application_term_1_360_months",
        "reviewer_limit_non_negative",
        "reviewer_capacity_positive",
        "reviewer_not_own_manager",
    ),
    # agents
    **_violated(
        "scoring_policy_credit_scores_ordered",
        "scoring_policy_dti_ordered",
        "scoring_policy_risk_ordered",
        "scoring_policy_amounts_ordered",
        "scoring_policy_income_non_negative",
        "scoring_policy_rates_rise_with_risk",
    ),
    # finance
    "bank_connection_item_unique_per_provider": Refusal("item_id", "This item is already linked.", "connection_exists"),
    "account_provider_id_unique_per_connection": Refusal(
        "provider_account_id", "Already exists on this connection.", "account_exists"
    ),
    "account_currency_iso": Refusal(NON_FIELD_ERRORS, "Currency is a three-letter ISO 4217 code, e.g. USD."),
    "budget_end_not_before_start": Refusal(NON_FIELD_ERRORS, "The end date cannot be before the start date."),
    "goal_target_amount_positive": Refusal(NON_FIELD_ERRORS, "The target amount must be positive."),
    "goal_current_amount_not_negative": Refusal(NON_FIELD_ERRORS, "The saved amount cannot be negative."),
    # core
    "approval_threshold_not_negative": Refusal("direct_limit", "The limit cannot be negative."),
    # ledger
    **_violated("ledger_account_currency_iso"),
    # loans
    "driver_tlc_license_unique": Refusal(
        "tlc_license_number", "A driver with this TLC licence is already registered.", "driver_exists"
    ),
    "lease_number_unique": Refusal("lease_number", "A lease with this number already exists.", "lease_exists"),
    "loans_delinquencyclass_code_key": Refusal("code", "A class with this code already exists."),
    "delinquency_class_range_ordered": Refusal("max_days", "Cannot be below the days from."),
    "delinquency_class_ranges_disjoint": Refusal(NON_FIELD_ERRORS, "The range overlaps another class's range."),
    "collection_case_amount_not_negative": Refusal("overdue_amount", "Cannot be negative."),
    **_violated("collection_case_assignment_complete"),
    "promise_to_pay_amount_positive": Refusal("amount", "The promised amount must be positive."),
    "promise_to_pay_due_not_before_taken": Refusal("promised_for", "Cannot be before the day the promise is taken."),
    "loan_product_version_unique": Refusal(
        "code", "Another version of this product was published at the same time; try again.", "product_version_taken"
    ),
    "loan_product_code_format": Refusal("code", "2 to 30 letters, digits or dashes."),
    "loan_product_currency_iso": Refusal("currency", "A three-letter ISO 4217 code, e.g. USD."),
    "loan_product_principal_range": Refusal("max_principal", "The principal range runs from a positive minimum up."),
    "loan_product_rate_range_0_20": Refusal("max_annual_rate", "Rates run from the minimum up, within 0-20 %."),
    "loan_product_installment_range": Refusal(
        "max_installments", "Installment counts run from the minimum up, within 1-520."
    ),
    "loan_product_frequencies_known": Refusal("frequencies", "Choose at least one known frequency."),
    "loan_product_methods_known": Refusal("methods", "Choose at least one known method."),
    "loan_product_currency_digits_0_or_2": Refusal("currency_digits", "2 (cents) or 0 (whole units)."),
    "loan_product_grace_shorter_than_term": Refusal(
        "principal_grace_periods", "The grace must be shorter than the smallest installment count."
    ),
    "loan_product_fee_kind_and_value": Refusal(
        NON_FIELD_ERRORS,
        "An origination fee is none (amount and percent 0), flat (a positive amount, percent 0) or a percent "
        "(above 0 and up to 100, amount 0).",
    ),
    "lease_weekly_fee_not_negative": Refusal("weekly_fee", "The weekly fee cannot be negative."),
    "driver_adjustment_reason_given": Refusal("reason", "Give the reason."),
    "driver_adjustment_amount_positive": Refusal("amount", "The amount must be positive."),
    "loan_write_off_reason_given": Refusal("reason", "Say why the loan is written off."),
    "loan_recovery_amount_positive": Refusal("amount", "The amount must be positive."),
    "loan_recovery_key_not_blank": Refusal("idempotency_key", "Give the payment's reference."),
    "loan_recovery_key_unique": Refusal("idempotency_key", "This reference is already recorded.", "recovery_exists"),
    "loan_product_late_fee_terms": Refusal(
        NON_FIELD_ERRORS,
        "A late fee is none (amount, percent and grace 0, no cap), flat (a positive amount, no cap) or a percent of "
        "the overdue installment (above 0 and up to 100, amount 0, an optional positive cap); grace 0-365 days.",
    ),
}


def constraint_name(error: IntegrityError) -> str:
    """The constraint (or trigger's `USING CONSTRAINT`) that refused, from psycopg's diagnostics."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


@contextmanager
def refusals_as_field_errors(*, savepoint: bool = False) -> Iterator[None]:
    """Run a write in a savepoint; a refusal named in REFUSALS becomes the error users see.

    `savepoint=True` when the caller itself goes on after the write failed (it needs the write
    rolled back first); otherwise there is none inside `transactions.all_or_nothing()`, where
    nobody goes on (see there).
    """
    try:
        with transaction.atomic() if savepoint else atomic_block():
            yield
    except IntegrityError as error:
        refusal = REFUSALS.get(constraint_name(error))
        if refusal is None:
            raise
        raise refusal.error() from error


def validate_fields(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """`full_clean()` without a query: field validation (max_length, choices, validators) and
    `clean()`; foreign keys, unique and check constraints are the database's (see above)."""
    relations = [field.name for field in instance._meta.concrete_fields if field.is_relation]
    instance.full_clean(exclude=[*relations, *exclude], validate_unique=False, validate_constraints=False)


def validated_save(instance: models.Model, **save_options: Any) -> None:
    """Validate the fields and save; the database's refusal becomes the error users see."""
    validate_fields(instance)
    with refusals_as_field_errors():
        instance.save(**save_options)
