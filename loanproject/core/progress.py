"""Progress bars for long management commands (on stderr, so --json output stays clean)."""

from __future__ import annotations

import sys
from typing import NoReturn

from tqdm import tqdm


def progress_bar(*, total: int | None, unit: str, enabled: bool = True, description: str = "") -> tqdm[NoReturn]:
    return tqdm(
        total=total,
        unit=unit,
        desc=description or None,
        file=sys.stderr,
        disable=not enabled or not total,
        dynamic_ncols=True,
    )
