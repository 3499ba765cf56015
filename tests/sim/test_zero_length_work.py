"""Many zero-length operations planned at the same instant on one cell run to the end: each one
ends the moment it begins, and the cell takes up the next in a loop, not a nested call per
operation (which hit Python's recursion limit after a few hundred)."""
import sys

import pytest

from plant.loader import spec_from_dict
from scheduler.schedule import Assignment, Schedule
from sim.replication import RunConfig, run_replication

N = 1500  # three nested calls per operation would need ~4500 frames: far past the limit of 1000


def _spec(window: bool):
    cell_type = {"name": "t0", "capabilities": {"c0": 1.0}}
    if window:  # a planned window makes the cell work its operations out ahead
        cell_type["unavailable"] = [{"start": "100h", "duration": "1h"}]
    return spec_from_dict({
        "name": "zero", "target": {"facility_gw": 0.001, "mw": {"compute": 1.0}},
        "demand": {"p0": N},
        "products": [{"name": "p0", "family": "f0", "category": "compute", "mw": 0.1,
                      "routing": [{"id": "label", "capability": "c0", "duration": 0}]}],
        "cell_types": [cell_type],
        "cells": [{"type": "t0", "count": 1}]})


@pytest.mark.parametrize("window", [True, False])
@pytest.mark.parametrize("control", ["blind", "rule"])
def test_a_run_of_zero_length_operations_on_one_cell_finishes(window, control):
    assert sys.getrecursionlimit() <= 1000 + 500  # the test means something only under the usual limit
    jobs = [f"p0#{k:05d}" for k in range(1, N + 1)]
    schedule = Schedule([Assignment(job, "label", "t0-001", 0, 0) for job in jobs], horizon=3600)
    config = RunConfig(_spec(window), end_s=7200, bin_s=3600, seed=0, schedule=schedule, control=control, record=True)
    trace = run_replication(config, 0)
    assert trace.control["units_finished"] == trace.control["units"] == N
    # Every operation exactly once, at time 0, taking no time.
    assert sorted(job for job, _, _, _, _ in trace.executed) == jobs
    assert {(op, cell, start, end) for _, op, cell, start, end in trace.executed} == {("label", "t0-001", 0.0, 0.0)}
    if control == "blind":  # in the plan's order
        assert [job for job, _, _, _, _ in trace.executed] == [a.job for a in schedule.assignments]
