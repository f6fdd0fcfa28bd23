"""Who owns an account: a (type, id) pair, so the ledger serves any app without importing it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Party:
    type: str  # e.g. "loans.driver"
    id: str

    @classmethod
    def of(cls, party_type: str, party_id: object) -> Party:
        return cls(type=party_type, id=str(party_id))

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"
