"""Admin forms whose save is a service call, with the service's errors shown on the form.

Django's admin can only show errors raised while the form validates, so the service runs as the
last step of validation (inside the admin's transaction). A ValidationError or DomainError
becomes a form error and the admin re-renders the form; otherwise the admin receives the object
the service returned, and saves nothing itself.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction

from ..errors import DomainError


class ServiceModelForm(forms.ModelForm):
    """Subclasses implement `call_service()`; `self.user` is the staff member submitting."""

    user = None  # set by ServiceAdminMixin.get_form

    def call_service(self):
        raise NotImplementedError

    def _post_clean(self):
        # No construct_instance/full_clean here: the service validates and saves.
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.service_result = self.call_service()
        except ValidationError as exc:
            self._add_service_error(exc)
        except DomainError as exc:
            for field, messages in exc.fields.items():
                self.add_error(field if field in self.fields else None, messages)
            if not exc.fields:
                self.add_error(None, exc.message)

    def _add_service_error(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, exc)

    def save(self, commit: bool = True):
        return self.service_result

    def save_m2m(self) -> None:
        """Nothing to do: the service saved everything."""


class ServiceAdminMixin:
    """Use with a ServiceModelForm: the admin stores nothing itself."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def save_form(self, request, form, change):
        return form.save()

    def save_model(self, request, obj, form, change) -> None:
        """The form's service call already saved the object."""

    def save_related(self, request, form, formsets, change) -> None:
        """Inlines of service-backed admins are read-only history: nothing to save. (commit=False
        only collects the formsets' changes, which the admin's change message reads.)"""
        for formset in formsets:
            formset.save(commit=False)
