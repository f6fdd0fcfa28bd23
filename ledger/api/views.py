"""Staff API of the book's reports: the trial balance, an account's statement (keyset pages), a
party's balances by category. Session or staff token; the ledger's view permission; `?export=csv`
streams the whole report. Amounts are strings."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loanproject.core.api.authentication import HasStaffPermission, StaffTokenAuthentication

from .. import report_doors
from ..forms import PartyBalancesQuery, StatementQuery, TrialBalanceQuery
from ..models import Account
from ..parties import Party
from ..statements import account_statement, party_balances, trial_balance

TRIAL_BALANCE_JSON_ROWS = 5000
CSV = OpenApiResponse(OpenApiTypes.STR, description="?export=csv: the whole report, streamed")
EXPORT = OpenApiParameter("export", str, enum=["csv"], description="csv: stream the whole report instead of JSON.")
CURRENCY = OpenApiParameter("currency", str, description="ISO code; default every currency.")


def _text(value: Any) -> Any:
    """Decimals and dates as strings: JSON never carries a money float."""
    return value if value is None or isinstance(value, (int, bool, str)) else str(value)


def _parsed(form: Any) -> dict[str, Any]:
    try:
        return form.parsed()  # type: ignore[no-any-return]
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from None


class BookAPIView(APIView):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [HasStaffPermission]
    required_permissions = {"get": report_doors.VIEW_BOOK}


class TrialBalanceView(BookAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today."),
            CURRENCY,
            OpenApiParameter(
                "by", str, enum=["ledger", "account"], description="ledger (default): party accounts rolled up."
            ),
            EXPORT,
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): CSV},
        description="Debits, credits and balance per account (or party ledger) up to as_of, with totals per "
        f"currency; the balances of each currency sum to zero. JSON lists the first {TRIAL_BALANCE_JSON_ROWS:,} rows "
        "(`truncated` says there are more; the totals cover them all); the CSV lists every row.",
    )
    def get(self, request: Request) -> HttpResponseBase:
        query = _parsed(TrialBalanceQuery(request.query_params))
        if query["export"] == "csv":
            return report_doors.trial_balance_csv(as_of=query["as_of"], currency=query["currency"], by=query["by"])
        trial = trial_balance(
            as_of=query["as_of"],
            currency=query["currency"] or None,
            by_ledger=query["by"] == "ledger",
            limit=TRIAL_BALANCE_JSON_ROWS,
        )
        return Response(
            {
                "as_of": str(query["as_of"]),
                "currency": query["currency"] or None,
                "by": query["by"],
                "rows": [{key: _text(value) for key, value in row.as_dict().items()} for row in trial.rows],
                "totals": {
                    currency: {"debits": str(t.debits), "credits": str(t.credits), "balance": str(t.balance)}
                    for currency, t in trial.totals.items()
                },
                "balanced": trial.balances,
                # More accounts than a JSON answer lists: the totals cover them all, the CSV lists them.
                "truncated": trial.truncated,
            }
        )


class AccountStatementView(BookAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Default: the 1st of this month."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Default: today."),
            OpenApiParameter("after", str, description="The cursor of the next page (a page's `next_after`)."),
            OpenApiParameter("page_size", int, description=f"Lines a page, 1-{report_doors.STATEMENT_PAGE_LINES}."),
            EXPORT,
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): CSV,
            404: OpenApiResponse(description="No such account."),
        },
        description="Opening balance on date_from, every leg of the period with its running balance (debit minus "
        "credit), closing balance on date_to. Lines come in keyset pages: each costs the same at any depth.",
    )
    def get(self, request: Request, account_id: int) -> HttpResponseBase:
        account = Account.objects.filter(pk=account_id).first()
        if account is None:
            raise NotFound("No such account.")
        query = _parsed(StatementQuery(request.query_params))
        date_from, date_to = query["date_from"], query["date_to"]
        if query["export"] == "csv":
            return report_doors.account_statement_csv(account=account, date_from=date_from, date_to=date_to)
        cursor = request.query_params.get("after")
        try:
            position = (
                report_doors.statement_position(cursor, account=account, date_from=date_from, date_to=date_to)
                if cursor
                else None
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        statement = account_statement(
            account=account, date_from=date_from, date_to=date_to, after=position, limit=_page_size(request)
        )
        return Response(
            {
                "account": {"id": account.pk, "code": account.code, "name": account.name, "currency": account.currency},
                "date_from": str(date_from),
                "date_to": str(date_to),
                "opening_balance": str(statement.opening_balance),
                "debits": str(statement.debits),
                "credits": str(statement.credits),
                "closing_balance": str(statement.closing_balance),
                "lines": [{key: _text(value) for key, value in line.as_dict().items()} for line in statement.lines],
                "next_after": report_doors.statement_cursor(
                    statement.next, account=account, date_from=date_from, date_to=date_to
                )
                if statement.next
                else None,
            }
        )


def _page_size(request: Request) -> int:
    value = request.query_params.get("page_size") or "100"
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= report_doors.STATEMENT_PAGE_LINES:
        raise ValidationError({"page_size": [f"A whole number from 1 to {report_doors.STATEMENT_PAGE_LINES}."]})
    return int(value)


class PartyBalancesView(BookAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today."), CURRENCY, EXPORT],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): CSV},
        description="The party's balance per category (debit minus credit); CREDIT is what it holds in credit.",
    )
    def get(self, request: Request, party_type: str, party_id: str) -> HttpResponseBase:
        query = _parsed(
            PartyBalancesQuery({**request.query_params.dict(), "party_type": party_type, "party_id": party_id})
        )
        party = Party.of(query["party_type"], query["party_id"])
        if query["export"] == "csv":
            return report_doors.party_balances_csv(party=party, as_of=query["as_of"], currency=query["currency"])
        balances = party_balances(party=party, as_of=query["as_of"], currency=query["currency"] or None)
        return Response(
            {
                "party_type": party.type,
                "party_id": party.id,
                "as_of": str(query["as_of"]),
                "balances": [
                    {"category": b.label, "currency": b.currency, "balance": str(b.closing)} for b in balances
                ],
            }
        )
