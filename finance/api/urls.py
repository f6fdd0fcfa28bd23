from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("connections", views.BankConnectionViewSet, basename="finance-connection")
router.register("accounts", views.AccountViewSet, basename="finance-account")
router.register("transactions", views.TransactionViewSet, basename="finance-transaction")
router.register("budgets", views.BudgetViewSet, basename="finance-budget")
router.register("goals", views.GoalViewSet, basename="finance-goal")
router.register("snapshots", views.NetWorthSnapshotViewSet, basename="finance-snapshot")
router.register("documents", views.DocumentViewSet, basename="finance-document")
router.register("customers", views.CustomerFinanceViewSet, basename="finance-customer")

urlpatterns = router.urls
