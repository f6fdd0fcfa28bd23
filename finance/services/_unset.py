"""The default of an optional argument of an update service: "not given, leave it as it is"
(None cannot say that where None is a value, e.g. `end_date=None` makes a budget open-ended)."""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal


class _Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]
