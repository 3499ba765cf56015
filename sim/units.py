"""Power at the scale of the floor: a 50 MW floor is told in MW, a 1 GW floor in GW. One place
decides, so the CLI, the HTML report and the sizing tables say the same thing."""
from __future__ import annotations

import math


def _unit(reference_gw: float) -> tuple[float, str]:
    return (1.0, "GW") if abs(reference_gw) >= 1.0 else (1000.0, "MW")


def _digits(value: float) -> int:
    """Decimals that keep about four significant digits (1,092.4 / 71.23 / 0.4521)."""
    size = abs(value)
    if size == 0 or not math.isfinite(size):
        return 1
    return max(0, min(4, 3 - int(math.floor(math.log10(size)))))


def power(gw: float, reference_gw: float | None = None, per_week: bool = True) -> str:
    """'71.2 MW/week' or '1.092 GW/week'; the unit follows `reference_gw` (e.g. the target) so
    figures of one floor share it."""
    if not math.isfinite(gw):
        return "unbounded"
    scale, unit = _unit(reference_gw if reference_gw is not None else gw)
    value = gw * scale
    return f"{value:,.{_digits(value)}f} {unit}" + ("/week" if per_week else "")


def power_interval(mean: float, low: float, high: float, reference_gw: float | None = None) -> str:
    """'71.2 MW/week [70.9, 71.5]'."""
    ref = reference_gw if reference_gw is not None else mean
    return f"{power(mean, ref)} [{interval_numbers(mean, low, high, ref).split(' [')[1]}"


def interval_numbers(mean: float, low: float, high: float, reference_gw: float) -> str:
    """'71.20 [70.90, 71.50]': the numbers alone, in the unit `unit_of(reference_gw)` names."""
    scale, _ = _unit(reference_gw)
    d = _digits(mean * scale)
    return f"{mean * scale:,.{d}f} [{low * scale:,.{d}f}, {high * scale:,.{d}f}]"


def unit_of(reference_gw: float) -> str:
    return _unit(reference_gw)[1]
