"""Spec limits: a spec beyond any of them is refused before work is done with it, by a one-line
error naming the field path and the allowed range; a 10 GW/week floor stays well inside."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml

from plant import DEFAULT_CATALOG, SpecError, limits, parse_spec
from plant.loader import parse_json_spec, spec_from_dict

TINY = Path(__file__).parents[1] / "specs" / "tiny.yaml"


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


def scaled_catalog(factor: float) -> dict:
    """The default catalog with every count, demand and target multiplied: a factor-GW floor."""
    raw = yaml.safe_load(DEFAULT_CATALOG.read_text())
    for group in raw["cells"]:
        group["count"] = int(group["count"] * factor)
    raw["demand"] = {k: v * factor for k, v in raw["demand"].items()}
    raw["target"]["facility_gw"] *= factor
    raw["target"]["mw"] = {k: v * factor for k, v in raw["target"]["mw"].items()}
    raw["transport"]["vehicles"] = int(raw["transport"]["vehicles"] * factor)
    return raw


def refused(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        spec_from_dict(raw, source="s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("factor", [10, 40])
def test_a_ten_gigawatt_floor_is_comfortably_inside_every_limit(factor):
    spec = spec_from_dict(scaled_catalog(factor), "scaled")
    assert len(spec.all_cells) == sum(g.count for g in spec.cells)
    assert spec.target.facility_gw == pytest.approx(factor)


def test_the_limits_themselves_leave_room_for_ten_gigawatts():
    ten = spec_from_dict(scaled_catalog(10), "ten")
    slots = sum(g.count * ten.cell_type_index[g.type].capacity for g in ten.cells)
    assert 5 * len(ten.all_cells) <= limits.MAX_CELLS
    assert 5 * slots <= limits.MAX_SLOTS
    assert 5 * sum(ten.demand.values()) <= limits.MAX_UNITS_PER_WEEK


def test_the_fuzzers_huge_cell_count_is_refused_without_building_cells():
    raw = tiny()
    raw["cells"][1]["count"] = 16_280_300
    tracemalloc.start()
    try:
        message = refused(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == "s.yaml: cells[1].count: 16280300 is outside the allowed range (1 ≤ value ≤ 50,000)"
    assert peak < 20 * 2**20  # a cell is ~1 kB: building them would take gigabytes


def _groups(n: int, count: int) -> dict:
    raw = tiny()
    raw["cells"] = [{"type": "arm", "count": count, "prefix": f"g{i}"} for i in range(n)] + raw["cells"][1:]
    return raw


def _long_routing(n: int) -> dict:
    raw = tiny()
    raw["products"][1]["routing"] = [{"id": "frame", "capability": "assemble", "duration": 1}] + [
        {"id": f"s{k}", "capability": "assemble", "duration": 1, "predecessors": ["frame" if k == 0 else f"s{k - 1}"]} for k in range(n - 1)]
    return raw


def _set(raw: dict, path: tuple, value) -> dict:
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


LIMITS = [
    # (spec beyond one limit, the field path its message names, words of the allowed range)
    (lambda: _groups(3, 20_000), "cells", "at most 50,000"),
    (lambda: _set(tiny(), ("cell_types", 2, "capacity"), 1001), "cell_types[2].capacity", "1 ≤ value ≤ 1,000"),
    (lambda: _set(_groups(1, 40_000), ("cell_types", 0, "capacity"), 3), "cells", "cell slots in total (count x capacity) is above the limit (allowed: at most 100,000)"),
    (lambda: _set(tiny(), ("products",), [dict(tiny()["products"][0], name=f"p{i}") for i in range(1001)]), "products", "at most 1000"),
    (lambda: _long_routing(501), "products[1].routing", "at most 500"),
    (lambda: _set(tiny(), ("demand", "rack"), 1_000_001), "demand.rack", "0 ≤ value ≤ 1,000,000"),
    (lambda: _set(tiny(), ("demand",), {"rack": 600_000, "cdu": 600_000}), "demand", "units per week in total is above the limit (allowed: at most 1,000,000)"),
    (lambda: _set(_long_routing(10), ("demand",), {"cdu": 600_000}), "demand", "operations per week (demand x operation runs per unit"),
    (lambda: _set(tiny(), ("products", 0, "routing", 3, "first_pass_yield"), 1e-9), "demand", "most from products[0] 'rack'"),
    # frame sends failed units on to cable and cable back to frame: each failure adds more runs than a pass removes
    (lambda: _set(tiny(), ("products", 0, "routing"), [dict(op, first_pass_yield=0.3, rework_to={"frame": "cable", "cable": "frame"}.get(op["id"]))
                                                       for op in tiny()["products"][0]["routing"]]),
     "products[0].routing", "rework never ends"),
    (lambda: _set(tiny(), ("products", 0, "routing", 3, "duration"), "3w"), "products[0].routing[3].duration", "0s to 2w"),
    (lambda: _set(tiny(), ("products", 0, "routing"), [{"id": f"o{k}", "capability": "assemble", "duration": "1w",
                                                       **({"predecessors": [f"o{k - 1}"]} if k else {})} for k in range(5)]),
     "products[0].routing", "hours of shortest flow time for one unit is above the limit (allowed: at most 672)"),
    (lambda: _set(tiny(), ("cell_types", 0, "mttf"), "5s"), "cell_types[0].mttf", "1m to 520w"),
    (lambda: _set(tiny(), ("cell_types", 0, "unavailable"), [{"start": 0, "duration": 1, "every": 2}]), "cell_types[0].unavailable[0].every", "1m to 520w"),
    (lambda: _set(tiny(), ("release",), {"mode": "conwip", "wip": 10**6}), "release.wip", "1 ≤ value ≤ 200,000"),
    (lambda: _set(tiny(), ("release",), {"mode": "poisson", "units_per_hour": 1e6}), "release.units_per_hour", "0 < value ≤ 5,952.381"),
    (lambda: _set(tiny(), ("transport",), {"vehicles": 10**6}), "transport.vehicles", "0 ≤ value ≤ 10,000"),
    (lambda: _set(tiny(), ("cells", 0, "prefix"), "x" * 201), "cells[0].prefix", "at most 200 characters"),
    (lambda: _set(tiny(), ("products", 0, "mw"), float("inf")), "products[0].mw", "finite"),
    (lambda: _set(tiny(), ("demand", "rack"), float("nan")), "demand.rack", "finite"),
]


@pytest.mark.parametrize("make, path, words", LIMITS, ids=[f"{m[1]}:{m[2][:24]}" for m in LIMITS])
def test_a_spec_beyond_a_limit_names_the_field_and_the_allowed_range(make, path, words):
    message = refused(make())
    assert message.startswith(f"s.yaml: {path}: "), message
    assert words in message, message


def test_deep_yaml_is_refused_before_the_recursive_composer():
    for text in ("a: " + "[" * 600 + "]" * 600, "a:\n" + "".join("  " * i + "- \n" for i in range(1, 600))):
        with pytest.raises(SpecError, match=r"^deep.yaml: a(\[0\])+: nesting deeper than 32 levels at line \d+, column \d+ \(allowed: at most 32\)$"):
            parse_spec(text, source="deep.yaml")


def test_deep_json_is_refused_before_the_recursive_decoder():
    text = '{"products": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(SpecError, match=r"^spec: products(\[0\]){31}: nesting deeper than 32 levels at character 44 \(allowed: at most 32\)$"):
        parse_json_spec(text, source="spec")
    deep = {"products": []}
    node = deep["products"]
    for _ in range(100):
        node.append([])
        node = node[0]
    with pytest.raises(SpecError, match=r"^spec: products(\[0\])+: nesting deeper than 32"):
        spec_from_dict(deep, source="spec")


def test_an_alias_bomb_is_refused_by_its_expanded_size():
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1000  # a billion values from under a kilobyte
    with pytest.raises(SpecError, match=r"^bomb.yaml: \w(\[\d+\])?: the document holds more than 500,000 values once its aliases are expanded"):
        parse_spec(text, source="bomb.yaml")


def test_aliases_of_reasonable_size_still_work():
    raw = tiny()
    text = yaml.safe_dump(raw).replace("cell_types:\n", "x-robot: &robot {mttf: 10h, mttr: 30m}\ncell_types:\n", 1)
    with pytest.raises(SpecError, match="x-robot: unknown field"):  # anchors parse; unknown keys are still refused
        parse_spec(text, "t.yaml")
    raw["cell_types"][1]["mttf"] = "10h"
    spec = parse_spec(yaml.safe_dump(raw, default_flow_style=False).replace("mttf: 10h", "mttf: &m 10h", 1).replace("mttf: '10h'", "mttf: *m"), "t.yaml")
    assert spec.cell_type_index["cabler"].mttf == 36000


def test_an_oversized_document_is_refused_by_its_size(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (limits.MAX_SPEC_BYTES + 10) + "\n")
    with pytest.raises(SpecError, match=r"big.yaml: \(document\): [\d,]+ bytes is above the limit \(allowed: at most 8,388,608\)"):
        from plant import load_spec

        load_spec(big)
    with pytest.raises(SpecError, match="bytes is above the limit"):
        parse_json_spec(json.dumps({"name": "x" * limits.MAX_SPEC_BYTES}))


def test_the_limits_are_one_small_api():
    table = limits.describe()
    assert table["MAX_CELLS"] == limits.MAX_CELLS and table["MAX_SPEC_BYTES"] == limits.MAX_SPEC_BYTES
    assert all(isinstance(v, (int, float)) and v > 0 for v in table.values())
    limits.check_plan_size(75_000, 168)


def test_a_horizon_is_refused_before_its_orders_exist():
    from plant import orders_for

    big = spec_from_dict(_set(_long_routing(10), ("demand",), {"rack": 100_000, "cdu": 400_000}))  # 4.4 million operations a week
    assert len(orders_for(big, 24)) == round(500_000 * 24 / 168)
    with pytest.raises(limits.LimitError, match=r"^demand_hours: 8,800,000 operations to plan in 336 h of demand is above the limit \(allowed: at most 5,000,000\)$"):
        orders_for(big, 336)
    assert len(orders_for(spec_from_dict(scaled_catalog(10)), 4 * 168)) > 250_000  # a 10 GW floor plans four weeks


def test_the_cli_answers_a_deep_spec_with_one_line_and_exit_2(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 600 + "]" * 600 + "\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    done = subprocess.run([sys.executable, "-m", "gwf", "twin", str(deep)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"gwf: error: {deep}: a" + "[0]" * 31 + ": nesting deeper than 32 levels at line 1, column 35 (allowed: at most 32)"]


def test_copying_a_spec_keeps_it_valid():
    raw = copy.deepcopy(tiny())
    assert spec_from_dict(raw).name == "tiny"

