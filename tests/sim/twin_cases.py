"""Shared helpers of the twin tests: load a validation spec (an ordinary spec file) with
overrides, run it, and check the invariants every run must satisfy."""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from plant.loader import DEFAULT_CATALOG, spec_from_dict
from plant.spec import FactorySpec
from sim import Twin, TwinReport
from sim.capacity import best_case_throughput_per_h

SPECS = Path(__file__).parent / "specs"


def load_case(name: str, **overrides: Any) -> FactorySpec:
    """specs/NAME.yaml with dotted-path overrides, e.g. {"cell_types[1].buffer": 2}."""
    raw = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    return spec_from_dict(apply(raw, overrides), name)


def apply(raw: dict, overrides: dict[str, Any]) -> dict:
    raw = copy.deepcopy(raw)
    for path, value in overrides.items():
        node: Any = raw
        parts = path.replace("]", "").replace("[", ".").split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def mini_floor(scale: float = 1 / 20, **overrides: Any) -> FactorySpec:
    """The default 1 GW catalog shrunk (demand divided, cells divided with 20% spare): every feature of the real
    floor (failures, setups, windows, buffers, bays, rework, AGVs) at a size a test can run."""
    raw = yaml.safe_load(DEFAULT_CATALOG.read_text())
    for group in raw["cells"]:
        group["count"] = max(1, math.ceil(group["count"] * scale * 1.2))  # small pools queue more: 20% spare
    raw["demand"] = {k: v * scale for k, v in raw["demand"].items()}
    raw["target"]["facility_gw"] *= scale
    raw["target"]["mw"] = {k: v * scale for k, v in raw["target"]["mw"].items()}
    raw["transport"]["vehicles"] = max(1, round(raw["transport"]["vehicles"] * scale))
    return spec_from_dict(apply(raw, overrides), "mini-floor")


def run(spec: FactorySpec, **kwargs: Any) -> TwinReport:
    report = Twin(spec, **kwargs).run()
    check_invariants(report, spec)
    return report


def check_invariants(report: TwinReport, spec: FactorySpec) -> None:
    """Little's law on the whole floor, and nothing beating the best-case bound
    TH <= min(w/T0, rb): on a floor without randomness no replication may; with random times a
    lucky replication can be faster than the mean-based bound, so there the whole interval
    must not lie above it."""
    little = report.littles_law
    # A finite window cuts through units already on the floor at its start and still on it at its
    # end; that edge effect is of order W/T, so the tolerance grows with cycle time over window.
    tolerance = 0.02 + little["W_h"] / report.measured_h
    assert little["relative_error"] < tolerance, f"Little's law: L={little['L']:.4f} but lambda*W={little['lambda_per_h'] * little['W_h']:.4f}"
    for name, units in spec.demand.items():
        if units <= 0:
            continue
        wip = spec.release.wip if spec.release.mode == "conwip" else None
        bound = best_case_throughput_per_h(spec, name, wip)
        if _deterministic(spec):
            worst = max(report.units_per_hour_by_replication[name])
            assert worst <= bound * (1 + 1e-9), f"{name}: a replication made {worst:.4f}/h, above the best case {bound:.4f}/h"
        interval = report.units_per_hour[name]
        assert interval.ci_low <= bound, f"{name}: {interval} lies above the best case {bound:.4f}/h"


def _deterministic(spec: FactorySpec) -> bool:
    return (all(op.variability.distribution == "deterministic" or op.variability.cv == 0 for p in spec.products for op in p.routing)
            and all(op.first_pass_yield == 1 for p in spec.products for op in p.routing)
            and all(t.mttf is None for t in spec.cell_types) and spec.release.mode != "poisson")
