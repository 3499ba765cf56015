"""Planning for real availability: durations derated by MTTF/(MTTF+MTTR) per cell type, running
work left as measured, the choice recorded so the plan's problem can be rebuilt."""
import math
from pathlib import Path

from plant import load_spec
from scheduler.availability import derate, nominal_mw_by_category, pool_availability
from scheduler.planning import Limits
from scheduler.delivery import mw_by_category
from scheduler.steady import horizon_problem, plan_horizon, recorded_problem
from scheduler.validate import validate

LOOP = Path(__file__).resolve().parents[1] / "specs" / "loop.yaml"
H = 3600


def test_durations_are_derated_by_each_types_availability_and_pinned_work_is_kept():
    spec = load_spec(str(LOOP))
    carried, problem = horizon_problem(spec, 30 * H, 30, "steady-state")
    assert carried.pinned
    share = pool_availability(problem, spec)
    assert share[[p.name for p in problem.pools].index("arm")] == 8 / 8.5  # mttf 8 h, mttr 30 min
    slower = derate(problem, spec, keep=set(carried.pinned))
    for t, (task, new) in enumerate(zip(problem.tasks, slower.tasks)):
        for (pool, d), (pool2, d2) in zip(task.modes, new.modes):
            assert pool == pool2
            assert d2 == (d if t in carried.pinned else math.ceil(d / share[pool] - 1e-9))


def test_an_availability_plan_promises_less_and_records_how_it_was_made():
    spec = load_spec(str(LOOP))
    _, problem, result = plan_horizon(spec, 30 * H, 30, "steady-state", "mw", Limits(time_limit=2, workers=1), availability=True)
    schedule = result.schedule
    assert schedule.kpis["availability"] is True
    rebuilt = recorded_problem(spec, schedule.kpis)
    validate(rebuilt, schedule)  # the saved plan's problem is the derated one
    promised = sum(mw_by_category(problem, schedule).values())
    nominal = sum(nominal_mw_by_category(spec, 30 * H, 30, "steady-state").values())
    assert promised <= nominal
