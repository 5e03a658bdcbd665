"""Dates and times as parameters: ISO 8601 text only. Pydantic alone would also take a number
as seconds since 1970, so that `until=0` would quietly mean 1 January 1970."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _text(matches: Callable[[str], object], expected: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not matches(value):
            raise ValueError(f"must be {expected}")
        return value

    return BeforeValidator(check)


# A day is the whole text: pydantic would take `2026-11-22T00:00` for a day too. A time only
# begins with its day; pydantic reads the rest.
IsoDate = Annotated[date, _text(_DAY.fullmatch, "a date as YYYY-MM-DD")]
IsoDateTime = Annotated[
    datetime,
    _text(_DAY.match, "an ISO 8601 date and time, such as 2026-11-22T09:30:00Z"),
]
