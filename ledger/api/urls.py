from django.urls import path

from .views import AccountStatementView, PartyBalancesView, TrialBalanceView

urlpatterns = [
    path("trial-balance/", TrialBalanceView.as_view(), name="ledger-trial-balance"),
    path("accounts/<int:account_id>/statement/", AccountStatementView.as_view(), name="ledger-account-statement"),
    path(
        "parties/<str:party_type>/<str:party_id>/balances/", PartyBalancesView.as_view(), name="ledger-party-balances"
    ),
]
