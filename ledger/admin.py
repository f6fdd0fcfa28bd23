"""The book in the admin: read-only. Entries change only by reversal, through the services."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from loanproject.core.admin.actions import run_for_each
from loanproject.core.admin.audited import AuditedAdminMixin
from loanproject.core.admin.paginator import LargeTableAdminMixin
from loanproject.core.admin.readonly import ReadOnlyAdminMixin, ReadOnlyInlineMixin

from . import selectors, services
from .models import Account, JournalEntry, OpenItem, PaymentAllocation, Posting


def entry_link(entry_id: int | None) -> str:
    if entry_id is None:
        return "-"
    return format_html('<a href="{}">#{}</a>', reverse("admin:ledger_journalentry_change", args=[entry_id]), entry_id)


@admin.register(Account)
class AccountAdmin(AuditedAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "type", "currency", "category", "party_type", "party_id", "is_active"]
    list_filter = ["type", "category", "currency", "is_active", "party_type"]
    search_fields = ["=code", "name", "=party_id"]
    ordering = ["code"]
    readonly_fields = [*list_display, "created_at", "balance"]
    fields = readonly_fields

    @admin.display(description="Balance (normal side)")
    def balance(self, obj: Account):
        return selectors.account_balance(account=obj)


class PostingInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Posting
    fields = ["account", "debit", "credit", "currency"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


class AllocationInline(PostingInline):
    model = PaymentAllocation
    fk_name = "payment_entry"
    fields = ["item", "amount"]
    readonly_fields = fields
    verbose_name_plural = "allocated to open items"

    def get_queryset(self, request):
        return admin.TabularInline.get_queryset(self, request).select_related("item")


class OpenedItemInline(PostingInline):
    model = OpenItem
    fk_name = "entry"
    fields = ["account", "reference", "due_date", "amount", "outstanding", "status"]
    readonly_fields = fields
    verbose_name_plural = "open items opened by this entry"


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "entry_date", "description", "source", "idempotency_key", "reversal_link", "created_at"]
    list_filter = ["source"]
    search_fields = ["=id", "=idempotency_key", "description"]
    date_hierarchy = "entry_date"
    ordering = ["-id"]
    fields = ["id", "idempotency_key", "entry_date", "description", "source", "reversal_of", "created_by", "created_at"]
    readonly_fields = fields
    inlines = [PostingInline, OpenedItemInline, AllocationInline]
    actions = ["reverse_entries"]

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.reverse_entry")

    @admin.display(description="Reversal of")
    def reversal_link(self, obj: JournalEntry) -> str:
        return entry_link(obj.reversal_of_id) if obj.reversal_of_id else ""

    @admin.action(description="Reverse selected entries (book their mirror image)", permissions=["reverse"])
    def reverse_entries(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"reversed in admin by {request.user.get_username()}"
        run_for_each(
            self, request, queryset, lambda pk: services.reverse_entry(entry_id=pk, reason=reason, created_by=request.user),
            done="Reversed {count} entr(y/ies).",
        )


@admin.register(OpenItem)
class OpenItemAdmin(AuditedAdminMixin, ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "reference", "account", "due_date", "amount", "outstanding", "status", "entry_link_column"]
    list_filter = ["status", "account__category"]
    list_select_related = ["account"]
    search_fields = ["=reference", "=account__code", "=account__party_id"]
    date_hierarchy = "due_date"
    ordering = ["-due_date", "-id"]
    readonly_fields = ["account", "entry", "reference", "due_date", "amount", "outstanding", "status", "closed_at"]
    fields = readonly_fields

    @admin.display(description="Entry")
    def entry_link_column(self, obj: OpenItem) -> str:
        return entry_link(obj.entry_id)
