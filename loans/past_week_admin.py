"""The admin page that asks to post a past week again (maker-checker:
services.request_past_week_posting): a day of the week and a reason. Reached from the posting
runs' list; needs `loans.post_past_week`. The current week is started with Posting runs > Add."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from loanproject.core.admin.service_forms import show_refusal
from loanproject.core.auth import acting_user
from loanproject.core.errors import DomainError

from . import services
from .periods import business_date_validator, posting_week
from .services.past_week_postings import POST_PAST_WEEK_PERMISSION

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object


class PastWeekForm(forms.Form):
    week = forms.DateField(
        help_text="Any day of the week to post again (Sunday to Saturday, New York time), before this week.",
        validators=[business_date_validator],
    )
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="The approver reads it."
    )


class PastWeekAdminMixin(_Base):
    """Adds "Ask to post a past week" to the posting runs' admin."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.past_week_view)
        return [path("past-week/", view, name="loans_post_past_week"), *super().get_urls()]

    def past_week_view(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.has_perm(POST_PAST_WEEK_PERMISSION):
            raise PermissionDenied
        form = PastWeekForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                period_start, period_end = posting_week(form.cleaned_data["week"])
                asked = services.request_past_week_posting(
                    period_start=period_start,
                    period_end=period_end,
                    reason=form.cleaned_data["reason"],
                    requested_by=acting_user(request),
                )
            except (ValidationError, DomainError) as refused:
                # The service names the week by its start and end; on this page it is the week field.
                for message in show_refusal(form, refused, aliases={"period_start": "week", "period_end": "week"}):
                    form.add_error(None, message)
            else:
                self.message_user(
                    request,
                    f"Asked to post the week of {period_start}: request #{asked.pk} is "
                    f"{asked.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:core_approvalrequest_change", args=[asked.pk]))
        return TemplateResponse(
            request,
            "admin/loans/installmentpostingrun/past_week.html",
            {
                **self.admin_site.each_context(request),
                "title": "Ask to post a past week",
                "opts": self.model._meta,
                "form": form,
            },
        )
