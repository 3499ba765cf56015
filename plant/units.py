"""Durations as people write them in spec files ("45m", "1.5h", "24h", 90) turned into seconds."""
from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([a-z]+)?\s*$")
# What editors check a duration string against (the JSON Schema of the spec): the same strings
# parse_duration reads, less the negative ones (ECMA regexes have no case flag, hence the classes).
DURATION_PATTERN = r"^\s*\+?\d+(\.\d+)?\s*([sS]|[sS][eE][cC]|[mM]|[mM][iI][nN]|[hH]|[dD]|[wW])?\s*$"


def parse_duration(value: object, low: float = 0.0, high: float = float("inf")) -> float:
    """Seconds from a number (already seconds) or a string with a unit; ValueError otherwise,
    saying what is wrong: not a duration at all, or a duration outside [low, high]."""
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
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"a duration must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"must be ≥ 0 (a duration cannot be negative), got {value!r}")
    if not low <= seconds <= high:
        raise ValueError(f"{value!r} is outside the allowed range {format_duration(low)} to {format_duration(high)}")
    return seconds


def format_duration(seconds: float) -> str:
    """The largest unit that divides the value: 2419200 -> '4w', 90 -> '90s'."""
    if seconds == float("inf"):
        return "unlimited"
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def duration_type(low: float = 0.0, high: float = float("inf"), description: str = "") -> object:
    """A pydantic field type for seconds in [low, high], accepting '45m'-style strings; its JSON
    Schema accepts both forms so editors complete and check spec files."""
    number: dict = {"type": "number", "minimum": low}
    if high != float("inf"):
        number["maximum"] = high
    schema = {"anyOf": [number, {"type": "string", "pattern": DURATION_PATTERN}],
              "description": (description + " " if description else "") +
              f"seconds, or a number with a unit s, m, h, d, w ('45m', '1.5h'); {format_duration(low)} to {format_duration(high)}"}
    return Annotated[float, BeforeValidator(partial(parse_duration, low=low, high=high)), WithJsonSchema(schema)]


Duration = duration_type()
"""A pydantic field type: seconds, accepting '45m'-style strings."""
