"""Every state change of drivers, leases, loan products, loans, postings and driver payments."""

from .adjustments import add_driver_adjustment
from .approvals import request_driver_payment_reversal, request_installment_posting_reversal
from .charge_imports import assign_imported_charge, import_charges, read_csv
from .collections import (
    CollectionsUpdate,
    SettledPromises,
    add_collection_note,
    assign_collector,
    record_promise_to_pay,
    refresh_collection_cases,
    refresh_collections_queue,
    settle_promises_to_pay,
    update_collections,
)
from .delinquency import (
    Classified,
    classify_delinquency,
    classify_driver_loans,
    classify_loans,
    ensure_default_delinquency_classes,
    save_delinquency_class,
)
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
from .past_week_postings import refuse_past_week, request_past_week_posting
from .payments import DriverPayment, DriverPaymentReversal, record_driver_payment, reverse_driver_payment
from .payoff import PayoffSettlement, settle_loan_by_payoff
from .posting import (
    PostingChunk,
    PostingResult,
    RecoveryResult,
    open_posting_run,
    post_installment_chunk,
    post_weekly_installments,
    preview_posting,
    queue_posting_run,
    recover_stalled_posting_runs,
    start_posting_run,
)
from .prepayments import Prepayment, prepay_loan
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
from .restructuring import request_loan_restructuring, restructure_loan

__all__ = [
    "PRODUCT_FIELDS",
    "Classified",
    "CollectionsUpdate",
    "DriverData",
    "DriverPayment",
    "DriverPaymentReversal",
    "LateFeeRun",
    "LoanQuote",
    "LoanTerms",
    "PayoffSettlement",
    "PostingChunk",
    "PostingResult",
    "Prepayment",
    "RecoveryResult",
    "SettledPromises",
    "add_collection_note",
    "add_driver_adjustment",
    "assign_collector",
    "assign_imported_charge",
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
    "ensure_default_delinquency_classes",
    "import_charges",
    "open_posting_run",
    "post_installment_chunk",
    "post_weekly_installments",
    "prepay_loan",
    "preview_loan",
    "preview_posting",
    "publish_loan_product",
    "queue_posting_run",
    "quote_loan",
    "read_csv",
    "record_driver_payment",
    "record_promise_to_pay",
    "recover_stalled_posting_runs",
    "refresh_collection_cases",
    "refresh_collections_queue",
    "refuse_past_week",
    "register_driver",
    "register_lease",
    "reopen_unsettled_loans",
    "request_driver_payment_reversal",
    "request_installment_posting_reversal",
    "request_late_fee_waiver",
    "request_loan_restructuring",
    "request_past_week_posting",
    "restructure_loan",
    "reverse_driver_payment",
    "reverse_installment_posting",
    "save_delinquency_class",
    "settle_loan_by_payoff",
    "settle_promises_to_pay",
    "start_posting_run",
    "update_collections",
    "update_driver",
    "waive_late_fee",
]
