"""The plan's units are worked out once per plan and reused by every replication: a second
replication of the same plan runs exactly as the first, and the tables go with the plan."""
import gc
from pathlib import Path

from plant import load_spec
from scheduler.control import control_plan
from sim import execution
from sim.entities import DONE
from sim.replication import RunConfig, run_replication

LOOP = Path(__file__).resolve().parents[2] / "tests" / "specs" / "loop.yaml"


def test_a_plans_units_are_reused_and_dropped_with_the_plan():
    from gwf.commands.schedule import plan_floor

    spec = load_spec(str(LOOP))
    schedule = plan_floor(str(LOOP), 86400, 24, time_limit=2, workers=1, seed=0)["schedule"]
    assert any(a.job.endswith("-wip") for a in schedule.assignments)  # carried-in units, half built
    config = RunConfig(spec, end_s=6 * 86400, bin_s=6 * 86400 / 30, seed=1, schedule=schedule, control="repair", record=True)
    first = run_replication(config, 0)
    second = run_replication(config, 0)  # from the cached tables
    assert first.executed == second.executed
    assert first.control["units_finished"] == first.control["units"]

    plan = control_plan(spec, schedule)
    gc.collect()  # plans earlier tests left for the collector go now, not while this one counts
    before = len(execution._per_plan)
    from sim.layout import compile_layout

    jobs = execution._plan_tables(plan, compile_layout(spec))[0]
    assert len(execution._per_plan) == before + 1
    # A carried-in unit's done operations are those the plan does not list (tasks are job-major).
    bounds = list(plan.job_first) + [plan.n_tasks]
    carried = 0
    for j, (_, _, (pending, status, ops_left)) in enumerate(jobs):
        done = [k for k, st in enumerate(status) if st == DONE]
        assert done == [t - bounds[j] for t in range(bounds[j], bounds[j + 1]) if plan.t_done[t]]
        assert ops_left == len(status) - len(done) and len(pending) == len(status)
        carried += bool(done)
    assert carried
    del plan, jobs
    gc.collect()
    assert len(execution._per_plan) == before
