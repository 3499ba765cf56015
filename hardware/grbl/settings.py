"""GRBL 1.1's `$` settings, pure: the defaults of defaults.h (DEFAULTS_GENERIC), how settings.c stores a
`$N=value` (with its error codes) and how report.c prints `$$`.

Accelerations are kept in mm/s² as printed ($120-$122); the firmware stores mm/min² internally.
"""
from __future__ import annotations

from dataclasses import dataclass, field

N_AXIS = 3
AXES = "XYZ"
MAX_STEP_RATE_HZ = 30000  # config.h: $100 × $110 may not exceed it (error:12)

# Integer-valued settings; the others print with three decimals ($30/$31 with none: N_DECIMAL_RPMVALUE).
_INTEGER = {0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 32}
_RPM = {30, 31}
_BOOLEAN = {4, 5, 6, 13, 20, 21, 22, 32}

# Status report mask bits ($10).
REPORT_MPOS = 1
REPORT_BUFFER = 2


def _defaults() -> dict[int, float]:
    values: dict[int, float] = {
        0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 1, 11: 0.010, 12: 0.002, 13: 0,
        20: 0, 21: 0, 22: 0, 23: 0, 24: 25.0, 25: 500.0, 26: 250, 27: 1.0, 30: 1000.0, 31: 0.0, 32: 0,
    }
    for axis in range(N_AXIS):
        values[100 + axis] = 250.0  # steps/mm
        values[110 + axis] = 500.0  # max rate, mm/min
        values[120 + axis] = 10.0  # acceleration, mm/s²
        values[130 + axis] = 200.0  # max travel, mm
    return values


DEFAULTS = _defaults()


class SettingError(Exception):
    """A `$N=value` GRBL refuses; `code` is the error:N it answers."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Settings:
    values: dict[int, float] = field(default_factory=lambda: dict(DEFAULTS))

    def __getitem__(self, number: int) -> float:
        return self.values[number]

    def flag(self, number: int) -> bool:
        return bool(self.values[number])

    def store(self, number: int, value: float) -> None:
        """settings_store_global_setting: the order of its checks decides which error a bad write gets."""
        if value < 0:
            raise SettingError(4)
        if number >= 100:
            group, axis = divmod(number - 100, 10)
            if group > 3 or axis >= N_AXIS:
                raise SettingError(3)
            if group == 0 and value * self.values[110 + axis] > MAX_STEP_RATE_HZ * 60:
                raise SettingError(12)
            if group == 1 and value * self.values[100 + axis] > MAX_STEP_RATE_HZ * 60:
                raise SettingError(12)
            self.values[number] = value
            return
        if number not in DEFAULTS:
            raise SettingError(3)
        integer = int(value)
        if number == 0 and integer < 3:
            raise SettingError(6)
        if number == 20 and integer and not self.flag(22):
            raise SettingError(10)  # soft limits need homing
        if number in _BOOLEAN:
            self.values[number] = 1 if integer else 0
        elif number in _INTEGER:
            self.values[number] = integer & 0xFF
        else:
            self.values[number] = value
        if number == 22 and not integer:
            self.values[20] = 0  # disabling homing also disables soft limits

    def report(self) -> list[str]:
        """`$$`: one `$N=value` line per setting, in number order."""
        return [f"${n}={format_setting(n, v)}" for n, v in sorted(self.values.items())]

    def acceleration(self, unit: tuple[float, ...]) -> float:
        """mm/s² along the unit vector `unit`: the tightest axis limit (planner.c limit_value_by_axis_maximum)."""
        return _limit(unit, [self.values[120 + a] for a in range(N_AXIS)])

    def max_rate(self, unit: tuple[float, ...]) -> float:
        """mm/min along `unit`: G0's speed and the cap on any feed."""
        return _limit(unit, [self.values[110 + a] for a in range(N_AXIS)])


def _limit(unit: tuple[float, ...], per_axis: list[float]) -> float:
    limit = float("inf")
    for component, axis_limit in zip(unit, per_axis):
        if component:
            limit = min(limit, axis_limit / abs(component))
    return limit if limit != float("inf") else min(per_axis)


def format_setting(number: int, value: float) -> str:
    if number in _INTEGER:
        return str(int(value))
    if number in _RPM:
        return f"{value:.0f}"
    return f"{value:.3f}"


# The coordinate data settings.c keeps in EEPROM: G54-G59 (indices 0-5), then G28 and G30.
COORD_G28, COORD_G30 = 6, 7
N_COORDINATE_SYSTEM = 6
N_STARTUP_LINE = 2


@dataclass
class Parameters:
    """What survives a soft reset besides `$` settings: work offsets, G28/G30 positions, startup lines, build info."""

    coords: list[list[float]] = field(default_factory=lambda: [[0.0] * N_AXIS for _ in range(8)])
    startup: list[str] = field(default_factory=lambda: [""] * N_STARTUP_LINE)
    build_info: str = ""

    def restore(self, what: str, settings: Settings) -> None:
        """`$RST=$` settings, `$RST=#` coordinate data, `$RST=*` everything."""
        if what in "$*":
            settings.values = dict(DEFAULTS)
        if what in "#*":
            self.coords = [[0.0] * N_AXIS for _ in range(8)]
        if what == "*":
            self.startup = [""] * N_STARTUP_LINE
            self.build_info = ""
