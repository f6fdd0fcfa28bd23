"""The book's reports as admin pages, reached from the accounts' list and each account's page:
the trial balance, an account's statement and a party's balances by category, each with its CSV.
Staff only (admin_view), and the ledger's view permission (report_doors.VIEW_BOOK), else 403."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from loanproject.core.money import ZERO

from . import report_doors
from .forms import PartyBalancesQuery, StatementQuery, TrialBalanceQuery
from .models import Account
from .parties import Party
from .statements import CategoryBalance, account_statement, party_balances, trial_balance

if TYPE_CHECKING:
    from django.contrib import admin

    _Base = admin.ModelAdmin[Account]
else:
    _Base = object


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{field}: {', '.join(messages)}" for field, messages in exc.message_dict.items())


class BookReportsAdminMixin(_Base):
    """Adds the report pages to the accounts' admin."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("trial-balance/", view(self.trial_balance_view), name="ledger_trial_balance"),
            path("party-balances/", view(self.party_balances_view), name="ledger_party_balances"),
            path("<int:account_id>/statement/", view(self.statement_view), name="ledger_account_statement"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/ledger/{template}.html",
            {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **context},
        )

    def _check(self, request: HttpRequest) -> None:
        if not request.user.has_perm(report_doors.VIEW_BOOK):
            raise PermissionDenied

    def trial_balance_view(self, request: HttpRequest) -> HttpResponseBase:
        self._check(request)
        form = TrialBalanceQuery(request.GET)
        try:
            query = form.parsed()
        except ValidationError as exc:
            return self._page(request, "trial_balance", "Trial balance", form=form, error=_errors(exc))
        if query["export"] == "csv":
            return report_doors.trial_balance_csv(as_of=query["as_of"], currency=query["currency"], by=query["by"])
        trial = trial_balance(
            as_of=query["as_of"],
            currency=query["currency"] or None,
            by_ledger=query["by"] == "ledger",
            limit=report_doors.STATEMENT_PAGE_LINES,
        )
        return self._page(
            request,
            "trial_balance",
            f"Trial balance on {query['as_of']}",
            form=form,
            trial=trial,
            rows=trial.rows,
            truncated=trial.truncated,
            query=_query_without(request, "export"),
        )

    def statement_view(self, request: HttpRequest, account_id: int) -> HttpResponseBase:
        self._check(request)
        account = get_object_or_404(Account, pk=account_id)
        form = StatementQuery(request.GET)
        title = f"Statement of {account}"
        try:
            query = form.parsed()
            date_from, date_to = query["date_from"], query["date_to"]
            after = request.GET.get("after")
            position = (
                report_doors.statement_position(after, account=account, date_from=date_from, date_to=date_to)
                if after
                else None
            )
        except ValidationError as exc:
            return self._page(request, "account_statement", title, account=account, form=form, error=_errors(exc))
        if query["export"] == "csv":
            return report_doors.account_statement_csv(account=account, date_from=date_from, date_to=date_to)
        statement = account_statement(
            account=account,
            date_from=date_from,
            date_to=date_to,
            after=position,
            limit=report_doors.STATEMENT_PAGE_LINES,
        )
        next_cursor = (
            report_doors.statement_cursor(statement.next, account=account, date_from=date_from, date_to=date_to)
            if statement.next
            else None
        )
        return self._page(
            request,
            "account_statement",
            title,
            account=account,
            form=form,
            statement=statement,
            continued=position is not None,
            next_cursor=next_cursor,
            query=_query_without(request, "export", "after"),
        )

    def party_balances_view(self, request: HttpRequest) -> HttpResponseBase:
        self._check(request)
        form = PartyBalancesQuery(request.GET)
        try:
            query = form.parsed()
        except ValidationError as exc:
            return self._page(request, "party_balances", "Balances by category", form=form, error=_errors(exc))
        party = Party.of(query["party_type"], query["party_id"])
        if query["export"] == "csv":
            return report_doors.party_balances_csv(party=party, as_of=query["as_of"], currency=query["currency"])
        balances = party_balances(party=party, as_of=query["as_of"], currency=query["currency"] or None)
        accounts = {
            (account.category, account.currency): account.pk
            for account in Account.objects.filter(party_type=party.type, party_id=party.id).only(
                "pk", "category", "currency"
            )
        }
        return self._page(
            request,
            "party_balances",
            f"Balances of {party} on {query['as_of']}",
            form=form,
            party=party,
            rows=[(balance, accounts.get((balance.category, balance.currency))) for balance in balances],
            totals=_per_currency(balances),
            query=_query_without(request, "export"),
        )


def _per_currency(balances: list[CategoryBalance]) -> list[tuple[str, Decimal]]:
    totals: dict[str, Decimal] = {}
    for balance in balances:
        totals[balance.currency] = totals.get(balance.currency, ZERO) + balance.closing
    return sorted(totals.items())


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
