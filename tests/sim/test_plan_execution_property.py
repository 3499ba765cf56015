"""Property: every plan the scheduler writes for a random small floor, from a running floor or an
empty one, is executed by the twin to the last unit under every control policy, with
precedence and cell capacity respected and no input buffer ever holding more than it has."""
from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plant.loader import spec_from_dict
from scheduler.control import control_plan
from scheduler.planning import Limits
from scheduler.steady import plan_horizon
from sim.replication import RunConfig, run_replication

H = 3600


@st.composite
def small_specs(draw):
    n_types = draw(st.integers(2, 3))
    caps = [f"c{k}" for k in range(n_types)]
    types = []
    for k in range(n_types):
        failing = draw(st.booleans())
        types.append({"name": f"t{k}", "capabilities": {caps[k]: 1.0, **({caps[(k + 1) % n_types]: 1.5} if draw(st.booleans()) else {})},
                      "capacity": draw(st.sampled_from([1, 1, 2])), "setup": draw(st.sampled_from([0, 300])),
                      "buffer": draw(st.sampled_from([None, 0, 1, 3])),
                      **({"mttf": draw(st.sampled_from([3 * H, 10 * H])), "mttr": draw(st.sampled_from([600, 2 * H]))} if failing else {})})
    products = []
    for p in range(draw(st.integers(1, 2))):
        n_ops = draw(st.integers(2, 4))
        routing = []
        for i in range(n_ops):
            preds = [f"o{i - 1}"] if i else []
            if i >= 2 and draw(st.booleans()):
                preds = [f"o{i - 2}"]  # a branch: two operations after the same one
            op = {"id": f"o{i}", "capability": caps[draw(st.integers(0, n_types - 1))],
                  "duration": draw(st.sampled_from([600, 1800, 3600])), "predecessors": preds,
                  "variability": {"distribution": "lognormal", "cv": 0.3}}
            if i and draw(st.booleans()):
                op.update(first_pass_yield=0.8, rework_to=f"o{i - 1}" if draw(st.booleans()) else None)
            routing.append(op)
        products.append({"name": f"p{p}", "family": f"f{p}", "category": ["compute", "cooling"][p], "mw": 0.1, "routing": routing})
    return spec_from_dict({
        "name": "random", "target": {"facility_gw": 0.001, "mw": {p["category"]: 1.0 for p in products}},
        "demand": {p["name"]: draw(st.integers(10, 40)) for p in products},
        "products": products, "cell_types": types,
        "cells": [{"type": t["name"], "count": draw(st.integers(1, 2))} for t in types]})


def check_execution(spec, schedule, trace) -> None:
    cp = control_plan(spec, schedule)
    record = trace.control
    assert record["units_finished"] == record["units"], "the plan was not finished"
    assert record.get("min_places_free", 0) >= 0, "an input buffer held more units than it has places"
    capacity = {c.id: spec.cell_type_index[c.type].capacity for c in spec.all_cells}
    by_cell = defaultdict(list)
    ends = defaultdict(list)
    for job, op, cell, start, end in trace.executed:
        by_cell[cell].append((start, end))
        ends[(job, op)].append(end)
    for job, op, cell, start, end in trace.executed:
        t = cp.task_of(job, op)
        for p in cp.t_preds[t]:
            if not cp.t_done[p]:
                assert any(e <= start + 1e-6 for e in ends[(job, cp.t_op[p])]), f"{job}/{op} started before {cp.t_op[p]} ended"
    for cell, spans in by_cell.items():
        points = sorted([(s, 1) for s, e in spans] + [(e, -1) for s, e in spans], key=lambda x: (x[0], x[1]))
        load = 0
        for _, d in points:
            load += d
            assert load <= capacity[cell], f"{cell} ran more than its capacity at once"


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=small_specs(), mode=st.sampled_from(["steady-state", "from-empty"]), horizon_h=st.sampled_from([8, 24]),
       control=st.sampled_from(["blind", "repair", "replan", "rule"]), seed=st.integers(0, 5))
def test_every_scheduler_plan_runs_to_the_last_unit(spec, mode, horizon_h, control, seed):
    schedule = plan_horizon(spec, horizon_h * H, horizon_h, mode, "mw", Limits(time_limit=1, workers=1))[2].schedule
    end = 4.0 * max(schedule.makespan, horizon_h * H) + 30 * 24 * H
    config = RunConfig(spec, end_s=end, bin_s=end / 50, seed=seed, schedule=schedule, record=True, control=control,
                       control_options=(("replan_every_s", 4 * H),) if control == "replan" else ())
    check_execution(spec, schedule, run_replication(config, 0))
