"""Sizing with money: the cheapest floor meets the target in its own replications, no cheaper
single-cell removal does, the written spec reads back, and without prices it is the fewest cells."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from sim import Twin
from sim.plan import with_cell_counts
from sim.sizing import cheapest_floor, floor_cost, scaled_spec

SPEC = Path(__file__).parent / "specs" / "priced_line.yaml"
ROOT = Path(__file__).resolve().parents[2]
RUN = dict(weeks=1, replications=5)


@pytest.fixture(scope="module")
def sized():
    return cheapest_floor(load_spec(SPEC), max_runs=12, **RUN)


def test_the_chosen_floor_meets_the_target_in_its_own_replications(sized) -> None:
    chosen = sized.chosen
    assert chosen is not None and chosen.feasible and chosen.stage == "confirm"
    spec = load_spec(SPEC)
    rerun = Twin(with_cell_counts(spec, chosen.counts, sized.load), seed=chosen.seed, **RUN).run()
    assert rerun.gw_per_replication == pytest.approx(chosen.gw_per_replication)  # the same replications...
    assert min(rerun.gw_per_replication) >= spec.target.facility_gw  # ...every one of them reaches the target
    assert rerun.p_meets_target_normal >= 0.95


def test_no_type_could_lose_a_cell(sized) -> None:
    """For each type, a floor with one cell fewer of it and at least as many of every other
    type was tried and missed (fewer cells elsewhere cannot make that removal succeed)."""
    chosen = sized.chosen
    for cell_type, n in chosen.counts.items():
        if n <= 1:
            continue
        witnesses = [c for c in sized.evaluated if c.stage == "prune" and not c.feasible
                     and c.counts[cell_type] >= n - 1
                     and all(c.counts[t] >= m for t, m in chosen.counts.items() if t != cell_type)]
        assert witnesses, f"{cell_type} could lose a cell"
    assert chosen.cost <= floor_cost(sized.spec, sized.cells_now)[0]


def test_tradeoff_is_a_frontier(sized) -> None:
    frontier = sized.tradeoff()
    costs = [c.cost for c in frontier]
    ps = [c.p_normal for c in frontier]
    assert costs == sorted(costs) and ps == sorted(ps) and len(set(ps)) == len(ps)


def test_plan_writes_a_spec_that_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "sized.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "gwf", "plan", str(SPEC), "--replications", "5", "--runs", "8", "--write", str(out), "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    written = load_spec(out)
    assert {t: written.cell_count(t) for t in result["chosen"]["counts"]} == result["chosen"]["counts"]
    original = load_spec(SPEC)
    assert written.products == original.products and written.demand == original.demand
    assert [t.cost for t in written.cell_types] == [t.cost for t in original.cell_types]
    assert "run 1" in run.stderr  # progress on stderr although it is piped


def test_without_prices_cheapest_is_fewest_cells() -> None:
    spec = load_spec(SPEC)
    raw = spec.model_dump(mode="json")
    for t in raw["cell_types"]:
        t.pop("cost")
    from plant.loader import spec_from_dict

    sized = cheapest_floor(spec_from_dict(raw, "unpriced"), max_runs=8, **RUN)
    assert not sized.costed and sized.chosen.cost == sum(sized.chosen.counts.values())


def test_a_demand_below_the_target_is_refused_with_its_field() -> None:
    spec = load_spec(SPEC)
    with pytest.raises(ValueError, match="demand"):
        cheapest_floor(spec.model_copy(update={"demand": {"unit": 100}}), max_runs=4, **RUN)


def test_scaled_spec_scales_demand_target_and_cells() -> None:
    spec = load_spec(SPEC)
    big = scaled_spec(spec, 0.5)
    assert big.target.facility_gw == 0.5 and big.demand["unit"] == pytest.approx(5000)
    assert big.cell_count("finish-cell") == 90
    catalog = load_spec(None)
    assert scaled_spec(catalog, 10.0).transport.vehicles == 10 * catalog.transport.vehicles  # AGVs scale too


def test_sizing_on_a_dask_cluster_chooses_the_same_floor(sized) -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = cheapest_floor(load_spec(SPEC), max_runs=12, cluster=cluster.scheduler_address, **RUN)
    assert on_dask.chosen.counts == sized.chosen.counts
    assert on_dask.chosen.gw_per_replication == sized.chosen.gw_per_replication
