"""The journal entry list searched by an item reference (e.g. a loan number): the entries that
opened the items so referenced, the payments allocated to them and the reversals of both.

A booker labels its items "<reference> <detail>" ("DL-2026-0001 #3", "DL-2026-0001 fee"), so a
term finds the items referenced exactly so or starting with it and a space (DL-2026-0001 does not
find DL-2026-00010), read by the prefix index on the reference (open_item_reference_idx)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, Q

from loanproject.core.admin.search import Exact, Shape

from .selectors import entry_ids_of_referenced_items

MAX_ENTRY_IDS = 5000  # a 520-week loan has about a thousand: its installments and their payments


def as_item_reference(term: str) -> str | None:
    """A reference has letters and digits and no colon (keys have colons; ids are digits only)."""
    if ":" in term or not any(c.isdigit() for c in term) or not any(c.isalpha() for c in term):
        return None
    return term.upper()


@dataclass(frozen=True)
class ItemReference(Exact):
    """An exact route (tried with the id and key routes) whose ids are read first, in one query,
    so the list's own condition stays a primary-key lookup."""

    lookup: str = "open_items__reference"
    shape: Shape = as_item_reference

    def q(self, model: type[Model], term: str) -> Q | None:
        reference = as_item_reference(term)
        if reference is None:
            return None
        ids = list(entry_ids_of_referenced_items(reference).values_list("entry_id", flat=True)[:MAX_ENTRY_IDS])
        return Q(pk__in=ids) if ids else None
