"""Durations as people write them in spec files ("45m", "1.5h", "24h", 90) turned into seconds."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a number (already seconds) or a string with a unit; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '45m', '1.5h', '2d'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value.lower())
        if not match or (match.group(2) or "s") not in _UNITS:
            raise ValueError(f"{value!r} is not a duration; write seconds or a number with a unit s, m, h, d or w (e.g. '45m')")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError("a duration must be a number of seconds or a string like '45m', '1.5h', '2d'")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"a duration must be finite and not negative, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A pydantic field type: seconds, accepting '45m'-style strings."""
