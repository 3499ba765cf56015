"""Capacity and demand told apart: a floor fed less than it can make is limited by demand, one
fed more than it can make by capacity; figures print at the scale of the floor."""
from __future__ import annotations

from pathlib import Path

import pytest

from plant import load_spec
from plant.spec import deployable_gw
from sim import Twin
from sim.limits import assess, capacity_run, overload_spec
from sim.units import power, power_interval

TINY = Path(__file__).resolve().parents[1] / "specs" / "tiny.yaml"
RUN = dict(weeks=1, replications=3, seed=1)


def _limits(spec):
    return assess(spec, Twin(spec, **RUN).run(), capacity_run(spec, **RUN))


def test_a_floor_fed_less_than_it_can_make_is_limited_by_demand() -> None:
    spec = load_spec(TINY)  # demand ~1 MW/week on a floor whose bays take ~50
    limits = _limits(spec)
    assert limits.limited_by == "demand"
    assert limits.offered_taken > 0.99
    assert limits.capacity is not None and limits.capacity.mean > 10 * limits.demand_gw
    assert limits.capacity.ci_low <= limits.capacity_bound_gw * (1 + 1e-9)  # never above the best case
    assert any("limited by demand" in s for s in limits.sentences())


def test_a_floor_fed_more_than_it_can_make_is_limited_by_capacity() -> None:
    base = load_spec(TINY)
    overloaded, scale = overload_spec(base, 2.0)
    assert scale >= 2.0 and deployable_gw(overloaded.demand_mw(), overloaded.target) == pytest.approx(
        scale * deployable_gw(base.demand_mw(), base.target))
    limits = _limits(overloaded)
    assert limits.limited_by == "capacity"
    assert limits.delivered.ci_high < 0.99 * limits.offered_gw
    # what it delivers when overfed is what it can make
    assert limits.capacity.mean == pytest.approx(limits.delivered.mean, rel=0.05)


@pytest.mark.parametrize("gw, ref, text", [
    (0.05, None, "50.00 MW/week"),
    (0.0713, 0.05, "71.30 MW/week"),
    (1.0924, None, "1.092 GW/week"),
    (0.9987, 1.0, "0.9987 GW/week"),
    (0.00093, 0.001, "0.9300 MW/week"),
])
def test_power_is_told_at_the_scale_of_the_floor(gw, ref, text) -> None:
    assert power(gw, ref) == text


def test_interval_shares_the_unit_of_its_mean() -> None:
    assert power_interval(0.0712, 0.0709, 0.0715, 0.05) == "71.20 MW/week [70.90, 71.50]"
