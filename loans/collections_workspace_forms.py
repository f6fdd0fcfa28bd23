"""The workspace's form of a case (collections_workspace_admin.py): log a promise to pay, a note or
both, through the case page's own form and services (never the collector)."""

from __future__ import annotations

from typing import Any

from django import forms

from .collections_admin import CollectionCaseForm


class WorkspaceEntryForm(CollectionCaseForm):
    """One case's "log a call" form: a note, a promise to pay, or both (never the collector)."""

    # The services name the model's fields; this form calls them promise_amount and note.
    SERVICE_FIELDS = {"amount": "promise_amount", "body": "note"}
    field_order = ["promise_amount", "promised_for", "note"]

    class Meta(CollectionCaseForm.Meta):
        fields: list[str] = []

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, prefix=f"case-{kwargs['instance'].pk}", **kwargs)
        if "promised_for" in self.fields:
            # The browser's own date picker: typed or picked, keyboard included.
            self.fields["promised_for"].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("note") and data.get("promise_amount") is None and data.get("promised_for") is None:
            raise forms.ValidationError("Write a note or a promise to pay.")
        return data

    def logged(self) -> str:
        """What was saved, for the success message."""
        data = self.cleaned_data
        parts = []
        if data.get("promise_amount") is not None:
            parts.append(f"a promise to pay {data['promise_amount']} by {data['promised_for']}")
        if data.get("note"):
            parts.append("a note")
        return " and ".join(parts)
