"""The customer page gains a personal-finance panel.

applications must not import finance, so the finance app extends the customer admin from this
side: it takes whatever admin applications registered for Customer, subclasses it with the
panel and registers the subclass in its place. The customer list is untouched (no extra
queries); the panel costs a fixed number of queries on the change page only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from applications.models import Customer
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError

from .. import selectors, services

FINANCE_LISTS = [
    ("Bank connections", "bankconnection"),
    ("Accounts", "account"),
    ("Transactions", "transaction"),
    ("Budgets", "budget"),
    ("Goals", "goal"),
    ("Net-worth snapshots", "networthsnapshot"),
    ("Documents", "document"),
]

CustomerAdminBase = type(admin.site.get_model_admin(Customer))


# The base is whatever admin the applications app registered for Customer (known at run time only).
class CustomerWithFinanceAdmin(CustomerAdminBase):  # type: ignore[valid-type,misc]
    readonly_fields = [*CustomerAdminBase.readonly_fields, "finance_summary"]
    actions = [*(CustomerAdminBase.actions or []), "take_net_worth_snapshot"]

    @admin.display(description="Personal finance")
    def finance_summary(self, obj: Customer) -> str:
        if obj is None or obj.pk is None:
            return "—"
        return render_to_string(
            "admin/finance/customer_finance_summary.html",
            {
                "summary": selectors.customer_finance_summary(customer_id=obj.pk, as_of=timezone.localdate()),
                "links": [
                    (label, reverse(f"admin:finance_{model}_changelist") + f"?customer__id__exact={obj.pk}")
                    for label, model in FINANCE_LISTS
                ],
            },
        )

    @admin.action(description="Take today's net-worth snapshot", permissions=["view"])
    def take_net_worth_snapshot(self, request: HttpRequest, queryset: QuerySet) -> None:
        if not request.user.has_perm("finance.add_networthsnapshot"):
            self.message_user(request, "You may not take net-worth snapshots.", messages.ERROR)
            return
        ids = list(queryset.values_list("pk", flat=True))
        try:
            report = services.take_net_worth_snapshots(customer_ids=ids, started_by=acting_user(request))
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request,
            f"{report.created} snapshot(s) taken for {report.date}; {report.already_taken} already taken.",
            messages.SUCCESS,
        )


admin.site.unregister(Customer)
admin.site.register(Customer, CustomerWithFinanceAdmin)
