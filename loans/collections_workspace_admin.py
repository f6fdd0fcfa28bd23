"""The collector's workspace in the admin (/admin/loans/collectioncase/workspace/): a page of the
cases they work (collections_workspace.py) with a form per case to log a promise to pay and a
note without leaving the page.

A form posts to the page itself: the case's own admin form (CollectionCaseForm, without the
collector) calls the same services as the case's page (add_collection_note,
record_promise_to_pay) in one transaction, then the page redirects to itself at the case's
anchor with a message. A refusal saves nothing and shows the page again with the errors on that
case's form. A case that is not the user's (collections_workspace.cases_worked_by) is refused
before any service runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from loanproject.core.admin.service_forms import ServiceRefused, add_service_error

from .collections_models import CollectionCase
from .collections_workspace import PAGE_SIZE, cases_worked_by, may_open_workspace, workspace_page
from .periods import business_today

if TYPE_CHECKING:
    from .collections_workspace_forms import WorkspaceEntryForm

    _ModelAdmin = admin.ModelAdmin[CollectionCase]
else:
    _ModelAdmin = object

TEMPLATE = "admin/loans/collectioncase/workspace.html"


def _entry_form(*args: Any, **kwargs: Any) -> WorkspaceEntryForm:
    # Imported here: collections_admin (whose form it extends) imports this module for the mixin.
    from .collections_workspace_forms import WorkspaceEntryForm

    return WorkspaceEntryForm(*args, **kwargs)


class CollectionsWorkspaceAdminMixin(_ModelAdmin):
    """For CollectionCaseAdmin: the workspace's URL, view and a link from the queue."""

    def get_urls(self) -> list[URLPattern]:
        workspace = path(
            "workspace/", self.admin_site.admin_view(self.workspace_view), name="loans_collectioncase_workspace"
        )
        return [workspace, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if may_open_workspace(request.user):
            extra_context = {**(extra_context or {}), "workspace_url": reverse("admin:loans_collectioncase_workspace")}
        return super().changelist_view(request, extra_context)

    def workspace_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_view_permission(request) and may_open_workspace(request.user)):
            raise PermissionDenied
        refused: WorkspaceEntryForm | None = None
        if request.method == "POST":
            answer = self._log_call(request)
            if isinstance(answer, HttpResponse):
                return answer
            refused = answer
        try:
            page = workspace_page(user=request.user, today=business_today(), cursor=request.GET.get("after"))
        except ValueError as exc:
            raise BadRequest("Not a page of this workspace.") from exc
        writable = self.has_change_permission(request)
        entries = [
            (
                row,
                refused
                if refused is not None and refused.instance.pk == row.driver_id
                else (_entry_form(instance=row.case, user=request.user) if writable else None),
            )
            for row in page.rows
        ]
        if refused is not None and all(row.driver_id != refused.instance.pk for row in page.rows):
            messages.error(request, f"Nothing was saved for {refused.instance.driver}: the case is not on this page.")
        sees_all = request.user.has_perm("loans.assign_collector")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Collections workspace: every delinquent driver" if sees_all else "My collections workspace",
            "sees_all": sees_all,
            "entries": entries,
            "page_size": PAGE_SIZE,
            "after": request.GET.get("after"),
            "next_cursor": page.next_cursor,
        }
        return TemplateResponse(request, TEMPLATE, context, status=200)

    def _log_call(self, request: HttpRequest) -> HttpResponse | WorkspaceEntryForm:
        """The POST of one case's form: a redirect when saved (or refused outright), else the form
        with its errors for the page."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        case_id = request.POST.get("case", "")
        case = (
            cases_worked_by(request.user).select_related("driver").filter(pk=int(case_id)).first()
            if case_id.isdigit()
            else None
        )
        if case is None:
            messages.error(request, "That driver is not among your cases: nothing was saved.")
            return HttpResponseRedirect(request.get_full_path())
        form = _entry_form(request.POST, instance=case, user=request.user)
        if form.is_valid():
            try:
                form.save()
            except ServiceRefused as refusal:
                add_service_error(form, refusal.error, aliases=form.SERVICE_FIELDS)
            else:
                messages.success(request, f"Logged for {case.driver}: {form.logged()}.")
                return HttpResponseRedirect(f"{request.get_full_path()}#case-{case.pk}")
        return form
