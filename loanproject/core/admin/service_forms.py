"""Admin forms whose save is a service call, with the service's errors shown on the form.

The service runs only once the whole page is valid: the form and every inline formset. Django's
change view validates the form before the formsets, so a service run while the form validates
would commit even when an inline then fails and the page comes back with errors. Instead:

1. The form validates its fields only (`is_valid()` calls no service).
2. Django validates the formsets; only if everything is valid does it call `save_model`, where
   the service runs (inside the admin's transaction) and the admin receives its object.
3. A service that refuses (ValidationError, DomainError) raises `ServiceRefused` out of the
   admin's transaction, which rolls back; the view is then shown again for the same POST with
   the refusal as form errors (the form and formsets are validated again; no service runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.forms.models import BaseModelFormSet
from django.http import HttpRequest, HttpResponse

from ..errors import DomainError

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class ServiceRefused(Exception):
    """The service refused a page whose forms were all valid; `error` is what it raised."""

    def __init__(self, error: ValidationError | DomainError) -> None:
        super().__init__(str(error))
        self.error = error


def add_service_error(form: forms.BaseForm, exc: ValidationError | DomainError) -> None:
    """A service's refusal as the form's errors: on the fields it names, else on the form."""
    if isinstance(exc, DomainError):
        for field, messages in exc.fields.items():
            form.add_error(field if field in form.fields else None, messages)
        if not exc.fields:
            form.add_error(None, exc.message)
    elif hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ServiceModelForm(forms.ModelForm[Any]):
    """Subclasses implement `call_service()`; `self.user` is the staff member submitting."""

    user: Any = None  # set by ServiceAdminMixin.get_form
    refusal: ValidationError | DomainError | None = None  # set by ServiceAdminMixin for the second rendering

    def call_service(self) -> Model:
        raise NotImplementedError

    def _post_clean(self) -> None:
        # No construct_instance/full_clean here: the service validates and saves. No service call
        # either: the inline formsets are not validated yet (see the module docstring).
        if self.refusal is not None and not self.errors:
            self._add_service_error(self.refusal)

    def _add_service_error(self, exc: ValidationError | DomainError) -> None:
        add_service_error(self, exc)

    def save(self, commit: bool = True) -> Model:
        """Run the service on the valid form; its refusal raises ServiceRefused."""
        try:
            with transaction.atomic():
                return self.call_service()
        except (ValidationError, DomainError) as exc:
            raise ServiceRefused(exc) from exc

    def save_m2m(self) -> None:
        """Nothing to do: the service saved everything."""


class ServiceAdminMixin(_ModelAdmin):
    """Use with a ServiceModelForm: the admin stores nothing itself."""

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        return type(form.__name__, (form,), {"user": request.user, "refusal": refusal})

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The admin's transaction rolled back everything this POST did; show the page again.
            # A note for get_form on this request (HttpRequest takes such attributes; its stub lists none).
            request.service_refusal = refused.error  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_form(self, request: HttpRequest, form: forms.ModelForm[Any], change: bool) -> Model:
        """Nothing is saved before the formsets are validated: save_model runs the service."""
        instance: Model = form.instance
        return instance

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm[Any], change: bool) -> None:
        """Every form and formset is valid: run the service, and make `obj` (the object the admin
        goes on with: change message, log entry, redirect) the one the service saved."""
        saved = form.save()
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm[Any], formsets: list[BaseModelFormSet[Any, Any]], change: bool
    ) -> None:
        """Inlines of service-backed admins are read-only history: nothing to save. (commit=False
        only collects the formsets' changes, which the admin's change message reads.)"""
        for formset in formsets:
            formset.save(commit=False)
