"""The spec documented and checkable (issue #15 item 1): the JSON Schema generated from the
models accepts every spec we ship and refuses malformed ones at the right field; docs/spec.md
covers every field and its example is a valid floor; `gwf spec check` warns about the cases the
models accept silently."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from plant import DEFAULT_CATALOG, parse_spec
from plant import spec as models
from plant.check import spec_warnings
from plant.schema import spec_schema

ROOT = Path(__file__).parents[2]
TINY = ROOT / "tests" / "specs" / "tiny.yaml"
SHIPPED = [DEFAULT_CATALOG, *sorted((ROOT / "tests" / "specs").glob("*.yaml")), *sorted((ROOT / "tests" / "sim" / "specs").glob("*.yaml"))]
DOC = ROOT / "docs" / "spec.md"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def doc_example() -> str:
    return re.search(r"## A small floor, annotated.*?```yaml\n(.*?)```", DOC.read_text(), re.S).group(1)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_schema_accepts_every_spec_we_ship(validator, path):
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors, errors


def _tiny_with(path: tuple, value) -> dict:
    raw = yaml.safe_load(TINY.read_text())
    node = raw
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


_DELETE = object()
MALFORMED = [
    (("products", 0, "colour"), "red"),
    (("products", 1, "category"), "plumbing"),
    (("products", 0, "mw"), -1),
    (("products", 0, "routing", 2, "duration"), "5 parsecs"),
    (("products", 0, "routing", 2, "duration"), -60),
    (("products", 0, "routing", 0, "variability"), {"distribution": "weibull"}),
    (("cell_types", 2, "capacity"), 0),
    (("cells", 2, "count"), "two"),
    (("cells", 1, "count"), 16_280_300),
    (("cell_types", 0, "mttf"), 5),  # seconds: below the one-minute floor (a string's range is the loader's to check)
    (("target",), _DELETE),
    (("target", "mw", "plumbing"), 3),
    (("release",), {"mode": "conwip", "wip": 0}),
]


@pytest.mark.parametrize("path, value", MALFORMED, ids=[".".join(map(str, m[0])) for m in MALFORMED])
def test_the_schema_refuses_a_malformed_spec_at_its_field(validator, path, value):
    errors = list(validator.iter_errors(_tiny_with(path, value if value is _DELETE else copy.deepcopy(value))))
    assert errors
    # Every error lies at or inside the broken field, or (an unknown or missing key) on the object holding it.
    for error in errors:
        at = tuple(error.absolute_path)
        assert at[:len(path)] == path or at == path[:-1], (at, error.message)


def test_the_cli_prints_the_schema_and_the_checked_in_copy_is_current(tmp_path):
    done = _gwf("spec", "schema")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(spec_schema()))
    assert (ROOT / "docs" / "spec.schema.json").read_text() == done.stdout, "regenerate: gwf spec schema > docs/spec.schema.json"


def test_the_documented_example_is_a_valid_floor_without_warnings(validator):
    text = doc_example()
    assert not list(validator.iter_errors(yaml.safe_load(text)))
    spec = parse_spec(text, "docs/spec.md")
    assert spec_warnings(spec) == []
    assert spec.demand_mw()["compute"] >= spec.target.mw["compute"]


def test_the_doc_names_every_field_of_every_model():
    text = DOC.read_text()
    for model in (models.FactorySpec, models.Product, models.Operation, models.Variability, models.CellType, models.Window,
                  models.CellGroup, models.Target, models.Transport, models.Release):
        for field in model.model_fields:
            assert f"`{field}`" in text, f"{model.__name__}.{field} is not in docs/spec.md"


def _gwf(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gwf", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def _write(tmp_path: Path, raw: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def test_check_passes_the_catalog_and_says_what_it_holds():
    done = _gwf("spec", "check", str(DEFAULT_CATALOG), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["warnings"] == [] and out["summary"]["cells"] == 519


@pytest.mark.parametrize("path, value, message", [
    (("cells", 0, "type"), "tray-cel", "cells[0].type: 'tray-cel' is not a cell type; valid: arm, cabler, bay"),
    (("products", 0, "routing", 0, "predecessors"), ["test"], "products[0].routing: predecessors form a cycle (cable -> test -> frame -> cable); a routing must be a DAG"),
    (("products", 0, "routing", 1, "duration"), "-20m", "products[0].routing[1].duration: must be ≥ 0 (a duration cannot be negative), got '-20m'"),
    (("cells", 1, "count"), 16_280_300, "cells[1].count: 16280300 is outside the allowed range (1 ≤ value ≤ 50,000)"),
])
def test_check_refuses_with_one_line_naming_the_field(tmp_path, path, value, message):
    spec = _write(tmp_path, _tiny_with(path, value))
    done = _gwf("spec", "check", str(spec))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"gwf: error: {spec}: {message}"]


def test_check_warns_about_rework_downstream_and_demand_below_target(tmp_path):
    raw = _tiny_with(("products", 0, "routing", 1, "rework_to"), "test")  # cable fails back to a later step
    raw["products"][0]["routing"][1]["first_pass_yield"] = 0.9
    raw["products"][0]["routing"][2]["rework_to"] = "cable"  # power sits beside cable, not after it
    raw["products"][0]["routing"][2]["first_pass_yield"] = 0.9
    raw["demand"]["cdu"] = 1  # 0.15 MW of cooling against a target of 0.3
    spec = _write(tmp_path, raw)
    done = _gwf("spec", "check", str(spec))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {spec}: products[0].routing[1].rework_to: 'test' comes after 'cable', not before it; "
        "a failed unit redoes only 'test' and 'cable' (name 'cable' or one of its predecessors)",
        f"warning: {spec}: products[0].routing[2].rework_to: 'cable' comes beside (on a parallel branch of) 'power', not before it; "
        "a failed unit redoes only 'cable' and 'power' (name 'power' or one of its predecessors)",
        f"warning: {spec}: demand: the weekly demand delivers 0.1 MW of cooling, below target.mw.cooling = 0.3 MW; "
        "even if everything is built, deployable output is at most 0.0005 of 0.001 GW/week",
    ]


def test_a_type_without_cells_is_a_warning():
    raw = yaml.safe_load(TINY.read_text())
    raw["cell_types"].append({"name": "spare", "capabilities": {"cable": 1.0}})
    from plant.loader import spec_from_dict

    assert spec_warnings(spec_from_dict(raw)) == ["cell_types[3]: 'spare' has no cells (add a group to `cells` or remove the type)"]
