"""A value that must never be shown in clear: str(), repr() and f-strings give the masked form.

Code that needs the clear value (the bureau call, a duplicate check) says so with `.reveal()`, which
makes every place that handles clear text easy to find with grep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


def mask_tail(value: object, visible: int = 4, mask_char: str = "X") -> str:
    """Mask all but the last `visible` characters: "ABCDE1234F" -> "XXXXXX234F"."""
    text = str(value)
    if len(text) <= visible:
        return mask_char * len(text)
    return mask_char * (len(text) - visible) + text[-visible:]


class Sensitive:
    """Wraps a clear-text secret; only `.reveal()` returns it."""

    __slots__ = ("_masker", "_value")

    def __init__(self, value: str, masker: Callable[[str], str] = mask_tail) -> None:
        if isinstance(value, Sensitive):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Sensitive wraps text, not {type(value).__name__}")
        self._value = value
        self._masker = masker

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return self._masker(self._value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"<Sensitive {self.masked}>"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sensitive):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __copy__(self) -> Sensitive:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Sensitive:
        return self

    def __reduce__(self) -> NoReturn:
        # Pickles end up in caches and message queues; a secret must not travel that way.
        raise TypeError("Sensitive values cannot be pickled; pass ids, not model instances")
