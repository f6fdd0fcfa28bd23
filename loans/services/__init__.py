"""Every state change of drivers, leases, loan products, loans, postings and driver payments."""

from .approvals import request_driver_payment_reversal, request_installment_posting_reversal
from .delinquency import Classified, classify_delinquency, classify_driver_loans, classify_loans, save_delinquency_class
from .drivers import DriverData, register_driver, register_lease, update_driver
from .late_fee_waivers import request_late_fee_waiver, waive_late_fee
from .late_fees import LateFeeRun, charge_late_fee_chunk, charge_late_fees
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
from .products import (
    PRODUCT_FIELDS,
    LoanQuote,
    LoanTerms,
    bookable_product,
    current_product,
    preview_loan,
    publish_loan_product,
    quote_loan,
)

__all__ = [
    "PRODUCT_FIELDS",
    "Classified",
    "DriverData",
    "DriverPayment",
    "DriverPaymentReversal",
    "LateFeeRun",
    "LoanQuote",
    "LoanTerms",
    "PostingChunk",
    "PostingResult",
    "RecoveryResult",
    "book_application_as_loan",
    "bookable_product",
    "cancel_loan",
    "charge_late_fee_chunk",
    "charge_late_fees",
    "classify_delinquency",
    "classify_driver_loans",
    "classify_loans",
    "close_settled_loans",
    "create_driver_loan",
    "current_product",
    "open_posting_run",
    "post_installment_chunk",
    "post_weekly_installments",
    "preview_loan",
    "preview_posting",
    "publish_loan_product",
    "quote_loan",
    "record_driver_payment",
    "recover_stalled_posting_runs",
    "register_driver",
    "register_lease",
    "reopen_unsettled_loans",
    "request_driver_payment_reversal",
    "request_installment_posting_reversal",
    "request_late_fee_waiver",
    "reverse_driver_payment",
    "reverse_installment_posting",
    "save_delinquency_class",
    "start_posting_run",
    "update_driver",
    "waive_late_fee",
]
