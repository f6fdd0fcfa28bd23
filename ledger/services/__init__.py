"""Every change to the book: accounts, balanced entries, charges, payments, credit, reversals,
waivers and write-offs.

Each function is atomic, takes keyword arguments, validates before it writes and returns what it
booked. Entries are append-only: a mistake is corrected with `reverse_entry`, never by editing.
"""

from ..sources import CREDIT_SOURCE, MANUAL_SOURCE, PAYMENT_SOURCE, REVERSAL_SOURCE, REVERSIBLE_IN_LEDGER
from .accounts import open_account, open_party_account, open_party_accounts, party_account_code, set_account_active
from .entries import (
    EntryAlreadyBooked,
    post_charges,
    post_entry,
    post_staged_charges,
    stage_charges,
    staged_parties_with_credit,
)
from .manual_entries import ManualLeg, post_manual_entry, request_manual_entry
from .payments import CreditApplication, PaymentResult, allocation_rank, apply_party_credit, record_payment
from .reversals import EntryOwnedElsewhere, request_entry_reversal, reverse_entry, reverse_payment
from .waivers import waive_open_item, write_off_open_items

__all__ = [
    "CREDIT_SOURCE",
    "MANUAL_SOURCE",
    "PAYMENT_SOURCE",
    "REVERSAL_SOURCE",
    "REVERSIBLE_IN_LEDGER",
    "CreditApplication",
    "EntryAlreadyBooked",
    "EntryOwnedElsewhere",
    "ManualLeg",
    "PaymentResult",
    "allocation_rank",
    "apply_party_credit",
    "open_account",
    "open_party_account",
    "open_party_accounts",
    "party_account_code",
    "post_charges",
    "post_entry",
    "post_manual_entry",
    "post_staged_charges",
    "record_payment",
    "request_entry_reversal",
    "request_manual_entry",
    "reverse_entry",
    "reverse_payment",
    "set_account_active",
    "stage_charges",
    "staged_parties_with_credit",
    "waive_open_item",
    "write_off_open_items",
]
