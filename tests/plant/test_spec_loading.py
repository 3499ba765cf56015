"""Spec loading: the default catalog and malformed specs whose errors must name the exact field path."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from plant import CATEGORIES, DEFAULT_CATALOG, SpecError, deployable_gw, load_spec, orders_for, parse_spec
from plant.loader import spec_from_dict
from plant.units import parse_duration

TINY = Path(__file__).parents[1] / "specs" / "tiny.yaml"


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


def test_default_catalog_makes_one_gigawatt_of_demand():
    spec = load_spec()
    assert spec.target.facility_gw == pytest.approx(1.0)
    # The weekly demand must deliver the target in every category, or the floor plans short.
    demand = spec.demand_mw()
    for category in CATEGORIES:
        assert demand[category] >= spec.target.mw[category]
    assert deployable_gw(demand, spec.target) >= 1.0
    racks = spec.demand["nvl72-rack"]
    assert 5000 <= racks <= 6500  # ~5,700 racks per GW (reference/datacenter.md)
    assert len(spec.all_cells) == sum(g.count for g in spec.cells)
    assert len({c.id for c in spec.all_cells}) == len(spec.all_cells)


def test_every_default_capability_is_offered_and_every_number_is_commented():
    text = DEFAULT_CATALOG.read_text()
    for line in text.splitlines():
        if line.strip().startswith("- {type:"):
            assert "#" in line, f"cell count without its derivation: {line}"


def test_tiny_spec_loads_with_durations_in_seconds():
    spec = load_spec(TINY)
    rack = spec.product_index["rack"]
    assert rack.operation_index["test"].duration == 7200
    assert [c.id for c in spec.all_cells] == ["arm-001", "arm-002", "cabler", "bay"]
    assert spec.all_cells[0].url == "mock://arm-001"


def test_orders_apportion_the_slice_of_weekly_demand():
    spec = load_spec()
    orders = orders_for(spec, 8)
    racks = [o for o in orders if o.product == "nvl72-rack"]
    assert len(racks) == round(5740 * 8 / 168)
    assert all(0 <= o.release < 8 * 3600 for o in orders)
    assert all(o.due > o.release for o in orders)
    assert len({o.id for o in orders}) == len(orders)


def _mutate(path: str, value):
    """Set a value at a dotted path with [i] indices in the tiny spec; value None deletes."""
    raw = tiny()
    node = raw
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key = int(last) if last.isdigit() else last
    if value is _DELETE:
        del node[key]
    else:
        node[key] = value
    return raw


_DELETE = object()

MALFORMED = [
    # (where to break it, the value, the field path the message must name, a word it must contain)
    ("products[0].routing[1].capability", "weld", "products[0].routing[1].capability", "not offered"),
    ("products[0].routing[1].predecessors", ["nope"], "products[0].routing[1].predecessors[0]", "valid: frame"),
    ("products[1].category", "plumbing", "products[1].category", "compute"),
    ("products[0].mw", -1, "products[0].mw", "allowed range (0 < value)"),
    ("products[0].routing[2].duration", "5 parsecs", "products[0].routing[2].duration", "unit"),
    ("products[0].routing[0].predecessors", ["test"], "products[0].routing", "cycle (cable -> test -> frame -> cable)"),
    ("cells[0].type", "tray-cel", "cells[0].type", "not a cell type; valid: arm, cabler, bay"),
    ("cell_types[0].capabilities.assemble", 0, "cell_types[0].capabilities.assemble", "allowed range (0 < value ≤ 1,000)"),
    ("cell_types[2].capacity", 0, "cell_types[2].capacity", "allowed range (1 ≤ value ≤ 1,000)"),
    ("cells[1].type", "welder", "cells[1].type", "valid: arm, cabler, bay"),
    ("demand.robot", 3, "demand.robot", "not a product"),
    ("target.mw.cooling", 0, "target.mw.cooling", "> 0"),
    ("products[0].colour", "red", "products[0].colour", "unknown field; valid: name, family"),
    ("products[0].routing[3].id", "frame", "products[0].routing[3].id", "duplicate"),
    ("cell_types[0].mttf", "-3h", "cell_types[0].mttf", "must be ≥ 0"),
    ("products[0].routing[2].duration", "-5m", "products[0].routing[2].duration", "must be ≥ 0"),
    ("target", _DELETE, "target", "required"),
    ("cells[2].count", "two", "cells[2].count", "integer"),
    ("cell_types[1].name", "arm", "cell_types[1].name", "duplicate"),
    ("products[0].routing[0].variability", {"distribution": "weibull"}, "products[0].routing[0].variability.distribution", "lognormal"),
]


@pytest.mark.parametrize("where, value, path, word", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_names_the_field(where, value, path, word):
    with pytest.raises(SpecError) as info:
        spec_from_dict(_mutate(where, value), source="tiny.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"tiny.yaml: {path}: "), message
    assert word in message, message


def test_bad_yaml_names_line_and_column():
    with pytest.raises(SpecError) as info:
        parse_spec("products: [\n  - {name: x\n", source="bad.yaml")
    assert "bad.yaml: not valid YAML at line" in str(info.value)


def test_top_level_must_be_a_mapping():
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec("- 1\n- 2\n")


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "nope.yaml")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=12))
def test_fuzzed_documents_fail_cleanly(document):
    text = yaml.safe_dump(document)
    try:
        parse_spec(text)
    except SpecError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([m[0] for m in MALFORMED]), st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=6), st.lists(st.integers(), max_size=2)))
def test_fuzzed_fields_of_a_valid_spec_fail_cleanly(where, value):
    try:
        spec_from_dict(_mutate(where, copy.deepcopy(value)))
    except SpecError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("text, seconds", [("45m", 2700), ("1.5h", 5400), ("2d", 172800), (90, 90), ("30 s", 30), ("1w", 604800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "5x", True, None, [1], float("nan")])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


CLI_WITH_SPEC = [
    ["schedule", "{bad}"],
    ["twin", "{bad}"],
    ["plan", "{bad}"],
    ["dispatch", "{plan}", "--spec", "{bad}"],
    ["demo", "--spec", "{bad}"],
]


@pytest.mark.parametrize("argv", CLI_WITH_SPEC, ids=[a[0] for a in CLI_WITH_SPEC])
def test_cli_prints_one_line_and_exits_2_on_a_bad_spec(tmp_path, argv):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_mutate("products[0].routing[1].capability", "weld")))
    plan = tmp_path / "plan.json"
    plan.write_text('{"assignments": []}')
    args = [a.format(bad=bad, plan=plan) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "gwf", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert "products[0].routing[1].capability: 'weld' is not offered by any cell type" in lines[0]
    assert "Traceback" not in proc.stderr
