"""Serializer building blocks shared by every API."""

from rest_framework import serializers


class StrictFieldsMixin:
    """Refuse unknown fields instead of silently ignoring them (a typo must not lose data)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
