from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .charges import ChargeImportView, DriverAdjustmentView, ImportedChargeViewSet
from .collections import CollectionAssignmentView, CollectionNotesView, CollectionQueueView, PromisesToPayView
from .past_week import PastWeekPostingView
from .payoff import PayoffQuoteView, PayoffView
from .schedule_versions import PrepaymentView, RestructuringView, ScheduleVersionsView
from .statements import DriverStatementView
from .views import (
    DriverPaymentReversalView,
    DriverPaymentView,
    LateFeeWaiverView,
    LoanProductViewSet,
    LoanViewSet,
    PostingRunViewSet,
    PostingView,
    ReportExportView,
    ReportView,
)
from .write_offs import LoanRecoveriesView, LoanRecoveryListView, LoanRecoveryReversalView, LoanWriteOffView

LOAN_NUMBER = LoanViewSet.lookup_value_regex

router = SimpleRouter()
router.register("loans", LoanViewSet, basename="loan")
router.register("loan-products", LoanProductViewSet, basename="loan-product")
router.register("loan-posting-runs", PostingRunViewSet, basename="loan-posting-run")
router.register("driver-charges", ImportedChargeViewSet, basename="driver-charge")

urlpatterns = [
    path("loans/postings/", PostingView.as_view(), name="loan-postings"),
    path("loans/postings/past-week/", PastWeekPostingView.as_view(), name="loan-postings-past-week"),
    path("loans/reports/<slug:name>/", ReportView.as_view(), name="loan-report"),
    path("loans/reports/<slug:name>/exports/", ReportExportView.as_view(), name="loan-report-exports"),
    path("drivers/<int:driver_id>/payments/", DriverPaymentView.as_view(), name="driver-payments"),
    path("drivers/<int:driver_id>/statement/", DriverStatementView.as_view(), name="driver-statement"),
    path("drivers/<int:driver_id>/adjustments/", DriverAdjustmentView.as_view(), name="driver-adjustments"),
    path("driver-charges/imports/", ChargeImportView.as_view(), name="driver-charge-imports"),
    path(
        "drivers/<int:driver_id>/payments/<int:entry_id>/reversal/",
        DriverPaymentReversalView.as_view(),
        name="driver-payment-reversal",
    ),
    path("collections/", CollectionQueueView.as_view(), name="collections-queue"),
    path("collections/<int:driver_id>/assignment/", CollectionAssignmentView.as_view(), name="collections-assignment"),
    path("collections/<int:driver_id>/notes/", CollectionNotesView.as_view(), name="collections-notes"),
    path("collections/<int:driver_id>/promises/", PromisesToPayView.as_view(), name="collections-promises"),
    path("late-fees/<int:late_fee_id>/waiver/", LateFeeWaiverView.as_view(), name="late-fee-waiver"),
    *[
        re_path(rf"^loans/(?P<loan_number>{LOAN_NUMBER})/{suffix}/$", view.as_view(), name=name)
        for suffix, view, name in [
            ("payoff-quote", PayoffQuoteView, "loan-payoff-quote"),
            ("payoff", PayoffView, "loan-payoff"),
            ("schedule-versions", ScheduleVersionsView, "loan-schedule-versions"),
            ("prepayments", PrepaymentView, "loan-prepayments"),
            ("restructurings", RestructuringView, "loan-restructurings"),
            ("write-off", LoanWriteOffView, "loan-write-off"),
            ("recoveries", LoanRecoveriesView, "loan-recoveries"),
        ]
    ],
    path("loan-recoveries/", LoanRecoveryListView.as_view(), name="loan-recovery-list"),
    path(
        "loan-recoveries/<int:recovery_id>/reversal/", LoanRecoveryReversalView.as_view(), name="loan-recovery-reversal"
    ),
    *router.urls,
]
