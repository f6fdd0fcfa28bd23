"""Every state change of drivers, leases, loans, postings and driver payments."""

from .adjustments import add_driver_adjustment
from .charge_imports import assign_imported_charge, import_charges, read_csv
from .drivers import DriverData, register_driver, register_lease, update_driver
from .loans import (
    book_application_as_loan,
    cancel_loan,
    close_settled_loans,
    create_driver_loan,
    reopen_unsettled_loans,
    reverse_installment_posting,
)
from .payments import DriverPayment, DriverPaymentReversal, record_driver_payment, reverse_driver_payment
from .posting import (
    PostingChunk,
    PostingResult,
    RecoveryResult,
    open_posting_run,
    post_installment_chunk,
    post_weekly_installments,
    preview_posting,
    recover_stalled_posting_runs,
    start_posting_run,
)

__all__ = [
    "DriverData",
    "DriverPayment",
    "DriverPaymentReversal",
    "PostingChunk",
    "PostingResult",
    "RecoveryResult",
    "add_driver_adjustment",
    "assign_imported_charge",
    "book_application_as_loan",
    "cancel_loan",
    "close_settled_loans",
    "create_driver_loan",
    "import_charges",
    "open_posting_run",
    "post_installment_chunk",
    "post_weekly_installments",
    "preview_posting",
    "read_csv",
    "record_driver_payment",
    "recover_stalled_posting_runs",
    "register_driver",
    "register_lease",
    "reopen_unsettled_loans",
    "reverse_driver_payment",
    "reverse_installment_posting",
    "start_posting_run",
    "update_driver",
]
