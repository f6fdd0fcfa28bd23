"""Admin actions that ask why before they act: the first click shows a page with the selected
rows and a reason field; its submission (same action, same selection) runs the action with the
reason. A blank reason is refused on that page. Maker-checker requests keep the reason for the
second person (core.approvals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

# The rows listed on the page; the action itself runs on the whole selection.
LISTED_ROWS = 100


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


def _names(rows: QuerySet[Any]) -> Iterable[str]:
    return [str(row) for row in rows]


def with_reason(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str,
    explanation: str,
    submit: str,
    act: Callable[[str], None],
    describe: Callable[[QuerySet[Any]], Iterable[str]] | None = None,
) -> HttpResponse | None:
    """From an admin action: ask for a reason, then `act(reason)` (which messages the user).
    `describe(rows)` names the first LISTED_ROWS selected rows (select_related them there)."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        act(form.cleaned_data["reason"].strip())
        return None
    return TemplateResponse(
        request,
        "admin/ask_reason.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "submit": submit,
            "opts": model_admin.model._meta,
            "form": form,
            "rows": list((describe or _names)(queryset.order_by("pk")[:LISTED_ROWS])),
            "count": queryset.count(),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )
