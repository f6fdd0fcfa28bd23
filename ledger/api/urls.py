from django.urls import path

from .manual_entries import ManualEntryView
from .views import AccountStatementView, PartyBalancesView, TrialBalanceView

urlpatterns = [
    path("manual-entries/", ManualEntryView.as_view(), name="ledger-manual-entries"),
    path("trial-balance/", TrialBalanceView.as_view(), name="ledger-trial-balance"),
    path("accounts/<int:account_id>/statement/", AccountStatementView.as_view(), name="ledger-account-statement"),
    path(
        "parties/<str:party_type>/<str:party_id>/balances/", PartyBalancesView.as_view(), name="ledger-party-balances"
    ),
]
