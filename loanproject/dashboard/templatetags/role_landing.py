"""`{% role_landing as landing %}`: the work of the signed-in user's roles, for the top of the
admin index (loanproject/dashboard/landing.py)."""

from __future__ import annotations

from typing import Any

from django import template

from ..landing import role_landing as landing_of

register = template.Library()


@register.simple_tag(takes_context=True)
def role_landing(context: template.Context) -> dict[str, Any]:
    return landing_of(context["request"].user)
