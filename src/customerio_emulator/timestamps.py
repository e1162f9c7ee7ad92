"""Timestamp handling as the real service does it: an invalid timestamp becomes "now", never an error.

Valid = a JSON integer of unix seconds in [0, 10_000_000_000) (year 2286). Anything else (a string, a
float, a negative number, milliseconds which read as far-future dates) is replaced by the arrival time
and reported as invalid, so the emulator can count and flag it.
"""

from __future__ import annotations

from typing import Any

MAX_SECONDS = 10_000_000_000  # above this an "unix seconds" value is almost surely milliseconds


def normalize(value: Any, now: float) -> tuple[float, bool]:
    """Return (timestamp to use, was_invalid). `None`/absent means "now" and is not invalid."""
    if value is None:
        return now, False
    if type(value) is int and 0 <= value < MAX_SECONDS:
        return value, False
    return now, True
