"""The book in the admin: read-only. Entries change only by reversal, through the services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from loanproject.core.admin.actions import APPROVAL_ASKED, run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin, ReadOnlyInlineMixin
from loanproject.core.admin.reasons import with_reason
from loanproject.core.admin.search import Contains, Exact, IndexedSearchMixin, as_identifier, as_int
from loanproject.core.auth import acting_user

from . import selectors, services
from .admin_reports import BookReportsAdminMixin
from .entry_search import ItemReference
from .manual_entry_admin import ManualEntryAdminMixin
from .models import Account, JournalEntry, OpenItem, PaymentAllocation, Posting
from .sources import journal_sources


def as_key(term: str) -> str | None:
    """An idempotency key: one word (keys are "<source>:<what>:..." strings)."""
    return term if term and not any(c.isspace() for c in term) else None


def as_reference(term: str) -> str | None:
    """The start of a reference as its booker wrote it (loan numbers are upper case)."""
    return term.upper() if any(c.isdigit() for c in term) else None


class SourceFilter(admin.SimpleListFilter):
    """The sources every app declares (`journal_sources` on its AppConfig): asking the table for
    its distinct values would read all of its millions of rows at each page view."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(source, source) for source in journal_sources()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(source=self.value()) if self.value() else queryset


def entry_link(entry_id: int | None) -> str:
    if entry_id is None:
        return "-"
    return format_html('<a href="{}">#{}</a>', reverse("admin:ledger_journalentry_change", args=[entry_id]), entry_id)


ACCOUNT_COLUMNS = ("code", "name", "type", "currency", "category", "party_type", "party_id", "is_active")
ACCOUNT_FIELDS = (*ACCOUNT_COLUMNS, "created_at", "balance")


@admin.register(Account)
class AccountAdmin(
    BookReportsAdminMixin,
    AuditedAdminMixin,
    ReadOnlyAdminMixin,
    LargeTableAdminMixin,
    IndexedSearchMixin,
    admin.ModelAdmin[Account],
):
    # Links to the trial balance (list) and to the account's statement and its party's balances.
    change_list_template = "admin/ledger/account/change_list.html"
    change_form_template = "admin/ledger/account/change_form.html"
    list_display = ACCOUNT_COLUMNS
    list_filter = ["type", "category", "currency", "is_active", "party_type"]
    search_routes = [Exact("code", as_identifier), Exact("party_id", as_identifier), Contains("name")]
    search_help_text = "An account code or a party's id, or words of the name (3 letters or more)."
    ordering = ["code"]
    readonly_fields = ACCOUNT_FIELDS
    fields = ACCOUNT_FIELDS

    @admin.display(description="Balance (normal side)")
    def balance(self, obj: Account) -> Decimal:
        return selectors.account_balance(account=obj)


POSTING_FIELDS = ("account", "debit", "credit", "currency")


class PostingInline(ReadOnlyInlineMixin, admin.TabularInline[Any, JournalEntry]):
    model = Posting
    fields = POSTING_FIELDS
    readonly_fields = POSTING_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("account")


ALLOCATION_FIELDS = ("item", "amount")


class AllocationInline(ReadOnlyInlineMixin, admin.TabularInline[Any, JournalEntry]):
    model = PaymentAllocation
    fk_name = "payment_entry"
    fields = ALLOCATION_FIELDS
    readonly_fields = ALLOCATION_FIELDS
    verbose_name_plural = "allocated to open items"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("item")


OPENED_ITEM_FIELDS = ("account", "reference", "due_date", "amount", "outstanding", "status")


class OpenedItemInline(ReadOnlyInlineMixin, admin.TabularInline[Any, JournalEntry]):
    model = OpenItem
    fk_name = "entry"
    fields = OPENED_ITEM_FIELDS
    readonly_fields = OPENED_ITEM_FIELDS
    verbose_name_plural = "open items opened by this entry"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("account")


ENTRY_FIELDS = (
    "id",
    "idempotency_key",
    "entry_date",
    "description",
    "source",
    "reversal_of",
    "created_by",
    "created_at",
)


@admin.register(JournalEntry)
class JournalEntryAdmin(
    ManualEntryAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin[JournalEntry]
):
    change_list_template = "admin/ledger/journalentry/change_list.html"  # the link to request a manual entry
    list_display = ["id", "entry_date", "description", "source", "idempotency_key", "reversal_link", "created_at"]
    list_filter = [SourceFilter]
    # No search of descriptions: a trigram index on the table the weekly posting fills a million
    # rows at a time would slow the posting more than it helps a search.
    search_routes = [Exact("id", as_int), Exact("idempotency_key", as_key), ItemReference()]
    search_help_text = (
        "An entry id, an idempotency key (e.g. loans.installment:1234:1) or an item reference (e.g. a loan number: "
        "its items' entries, their payments and reversals)."
    )
    date_hierarchy = "entry_date"  # journal_entry_date_idx
    ordering = ["-id"]
    fields = ENTRY_FIELDS
    readonly_fields = ENTRY_FIELDS
    inlines = [PostingInline, OpenedItemInline, AllocationInline]
    actions = ["reverse_entries"]

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.reverse_entry")

    @admin.display(description="Reversal of")
    def reversal_link(self, obj: JournalEntry) -> str:
        return entry_link(obj.reversal_of_id) if obj.reversal_of_id else ""

    @admin.action(
        description="Reverse selected entries (a second person approves, above the threshold)", permissions=["reverse"]
    )
    def reverse_entries(self, request: HttpRequest, queryset: QuerySet[JournalEntry]) -> HttpResponse | None:
        """First a page that asks why; on its submission, one request per entry."""
        actor = acting_user(request)

        def ask(reason: str) -> None:
            run_for_each(
                self,
                request,
                queryset,
                lambda pk: services.request_entry_reversal(entry_id=pk, reason=reason, requested_by=actor),
                done=APPROVAL_ASKED.format(what="the reversal of {count} entr(y/ies)"),
            )

        return with_reason(
            self,
            request,
            queryset,
            title="Ask to reverse journal entries",
            explanation="Each becomes a reversal request: done at once below the action's threshold, otherwise "
            "waiting in Approval requests for a second person.",
            submit="Ask to reverse",
            act=ask,
        )


OPEN_ITEM_FIELDS = ("account", "entry", "reference", "due_date", "amount", "outstanding", "status", "closed_at")


@admin.register(OpenItem)
class OpenItemAdmin(
    AuditedAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, IndexedSearchMixin, admin.ModelAdmin[OpenItem]
):
    list_display = ["id", "reference", "account", "due_date", "amount", "outstanding", "status", "entry_link_column"]
    list_filter = ["status", "account__category"]
    list_select_related = ["account"]
    search_routes = [
        Exact("reference__startswith", as_reference),
        Exact("id", as_int),
        Exact("code", as_identifier, via="account"),
        Exact("party_id", as_identifier, via="account"),
    ]
    search_help_text = "A reference (e.g. a loan number), an item id, an account code or a party's id."
    date_hierarchy = "due_date"  # open_item_due_idx
    ordering = ["-due_date", "-id"]  # open_item_due_idx
    fields = OPEN_ITEM_FIELDS
    readonly_fields = OPEN_ITEM_FIELDS

    @admin.display(description="Entry")
    def entry_link_column(self, obj: OpenItem) -> str:
        return entry_link(obj.entry_id)
