"""A range filter for the admin sidebar: from/to on an amount or a date, both ends inclusive.

`list_filter = [("requested_amount", RangeFilter), ("submitted_at", RangeFilter)]` shows two
inputs and reads `<field>__gte` / `<field>__lte` from the query string (the links staff used to
type by hand keep working). A date on a date-and-time field means that whole local day: `__lte`
of 2026-01-31 keeps everything before 2026-02-01 00:00 in the current time zone, so the filter is
a range on the column and its index serves it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone


class RangeFilter(admin.FieldListFilter):
    template = "admin/range_filter.html"

    def __init__(
        self,
        field: models.Field[Any, Any],
        request: HttpRequest,
        params: dict[str, Any],
        model: type[models.Model],
        model_admin: admin.ModelAdmin[Any],
        field_path: str,
    ) -> None:
        self.low_param, self.high_param = f"{field_path}__gte", f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.low, self.high = (self._value(name) for name in (self.low_param, self.high_param))

    def expected_parameters(self) -> list[str | None]:
        return [self.low_param, self.high_param]

    def _value(self, name: str) -> str:
        value = self.used_parameters.get(name)
        return str(value[-1] if isinstance(value, list) else value or "").strip()

    def _parse(self, value: str) -> Any:
        form_field: forms.Field
        if isinstance(self.field, models.DateField | models.DateTimeField):
            form_field = forms.DateField()
        elif isinstance(self.field, models.DecimalField):
            form_field = forms.DecimalField(max_digits=self.field.max_digits, decimal_places=self.field.decimal_places)
        else:
            form_field = forms.IntegerField()
        try:
            return form_field.clean(value)
        except ValidationError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def _bounds(self) -> dict[str, Any]:
        lookups: dict[str, Any] = {}
        low = self._parse(self.low) if self.low else None
        high = self._parse(self.high) if self.high else None
        if isinstance(self.field, models.DateTimeField):
            zone = timezone.get_current_timezone()
            if low is not None:
                lookups[f"{self.field_path}__gte"] = datetime.datetime.combine(low, datetime.time(), tzinfo=zone)
            if high is not None:
                next_day = high + datetime.timedelta(days=1)
                lookups[f"{self.field_path}__lt"] = datetime.datetime.combine(next_day, datetime.time(), tzinfo=zone)
            return lookups
        if low is not None:
            lookups[f"{self.field_path}__gte"] = low
        if high is not None:
            lookups[f"{self.field_path}__lte"] = high
        return lookups

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        bounds = self._bounds()
        return queryset.filter(**bounds) if bounds else queryset

    def choices(self, changelist: ChangeList) -> Iterator[Any]:  # the template reads its own keys
        mine = {self.low_param, self.high_param}
        yield {
            "low_param": self.low_param,
            "high_param": self.high_param,
            "low": self.low,
            "high": self.high,
            "input_type": "date" if isinstance(self.field, models.DateField | models.DateTimeField) else "text",
            "hidden": [
                (key, value)
                for key, values in changelist.get_filters_params().items()
                if key not in mine
                for value in values
            ],
            "search": changelist.query,
            "clear_link": changelist.get_query_string(remove=[self.low_param, self.high_param]),
            "selected": bool(self.low or self.high),
        }
