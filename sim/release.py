"""How units get onto the floor: the spec's `release` model in dispatch mode (weekly demand
repeated, Poisson arrivals, CONWIP, infinite supply); a plan's units enter by sim.execution."""
from __future__ import annotations

import bisect

from plant.demand import WEEK_S, orders_for
from plant.spec import FactorySpec
from sim.entities import Unit
from sim.floor import Floor
from sim.layout import Layout
from sim.streams import Stream


def start_release(env, floor: Floor, spec: FactorySpec, layout: Layout, arrivals: Stream) -> None:
    """Install the spec's release model on the floor."""
    release = spec.release
    shares = _demand_shares(spec, layout)
    if release.mode == "demand":
        env.process(_weekly_demand(env, floor, spec, layout, release.load))
    elif release.mode == "poisson":
        per_hour = release.units_per_hour or sum(spec.demand.values()) / (WEEK_S / 3600) * release.load
        env.process(_poisson(env, floor, layout, shares, per_hour / 3600.0, arrivals))
    elif release.mode == "conwip":
        _conwip(floor, layout, shares, release.wip, arrivals)
    else:
        _saturate(floor, layout, shares)


def _demand_shares(spec: FactorySpec, layout: Layout) -> list[tuple[int, float]]:
    """(product index, cumulative share of weekly units) for products with demand."""
    demand = [(layout.product_index[name], units) for name, units in spec.demand.items() if units > 0]
    total = sum(units for _, units in demand)
    if total <= 0:
        raise ValueError("demand: every product has zero units per week; the twin has nothing to release")
    out, acc = [], 0.0
    for index, units in demand:
        acc += units / total
        out.append((index, acc))
    return out


def _draw_product(shares: list[tuple[int, float]], stream: Stream) -> int:
    if len(shares) == 1:
        return shares[0][0]
    u = stream.uniform()
    i = bisect.bisect_right([c for _, c in shares], u)
    return shares[min(i, len(shares) - 1)][0]


def _due(layout: Layout, product: int, now: float) -> float:
    # Same convention as plant.demand.orders_for: wanted within the product's fastest flow
    # time plus one week (a unit is late when it falls behind the weekly takt).
    return now + layout.products[product].critical_path_s + WEEK_S


def _weekly_demand(env, floor: Floor, spec: FactorySpec, layout: Layout, load: float):
    """The week's orders (plant.demand.orders_for), evenly spread, repeated every week; `load`
    compresses the week to offer more (or less) than demand. A full first buffer holds the
    release back (the backlog waits off the floor)."""
    pattern = [(layout.product_index[o.product], o.release, o.due - o.release, o.id) for o in orders_for(spec, WEEK_S / 3600)]
    week = 0
    while True:
        for product, offset, lead, name in pattern:
            at = (week * WEEK_S + offset) / load
            if at > env.now:
                yield env.timeout(at - env.now)
            yield from floor.enter(floor.new_unit(product, env.now + lead, name if week == 0 else f"{name}@w{week + 1}"))
        week += 1


def _poisson(env, floor: Floor, layout: Layout, shares, rate_per_s: float, arrivals: Stream):
    while True:
        yield env.timeout(arrivals.exponential() / rate_per_s)
        product = _draw_product(shares, arrivals)
        floor.enter_now(floor.new_unit(product, _due(layout, product, env.now)))


def _conwip(floor: Floor, layout: Layout, shares, wip: int, arrivals: Stream) -> None:
    """Keep `wip` units on the floor: each finished unit lets the next one in at once."""

    def replace(_unit: Unit) -> None:
        product = _draw_product(shares, arrivals)
        floor.enter_now(floor.new_unit(product, _due(layout, product, floor.env.now)))

    floor.on_finish = replace
    for _ in range(wip):
        replace(None)


def _saturate(floor: Floor, layout: Layout, shares) -> None:
    """Infinite supply: every product keeps a unit waiting for each slot of its first station,
    topped up each time one starts, so the first operations are never starved."""

    def top_up(unit: Unit) -> None:
        floor.enter_now(floor.new_unit(unit.product.index, _due(layout, unit.product.index, floor.env.now)))

    floor.on_first_start = top_up
    for product, _ in shares:
        first = layout.products[product].ops[layout.products[product].roots[0]]
        for _ in range(layout.stations[first.options[0][0]].slots):
            floor.enter_now(floor.new_unit(product, _due(layout, product, 0.0)))
