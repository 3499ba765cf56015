"""The twin on a real floor (the default catalog shrunk 20x): the same seed gives the same
numbers on every executor, a plan the twin made is valid for the independent validator and
replays exactly, Welch's warm-up covers the empty start, and the invariants hold."""
import pytest
from dask.distributed import LocalCluster

from plant.demand import WEEK_S, orders_for
from plant.loader import SpecError
from scheduler.problem import build_problem
from scheduler.schedule import Schedule
from scheduler.validate import validate
from sim import Twin
from sim.replication import executed_schedule, run_replication
from sim.streams import Stream, stream_seed
from twin_cases import check_invariants, load_case, mini_floor, run

DETERMINISTIC = {f"products[{p}].routing[{o}].variability": {"distribution": "deterministic"} for p, n in enumerate([11, 7, 6, 7]) for o in range(n)}
PERFECT_YIELD = {f"products[{p}].routing[{o}].first_pass_yield": 1.0 for p, n in enumerate([11, 7, 6, 7]) for o in range(n)}
NO_FAILURES = {f"cell_types[{t}].mttf": None for t in range(12)}


def test_same_seed_same_numbers_on_every_executor():
    spec = mini_floor()
    kwargs = dict(weeks=0.3, warmup_h=30, replications=4, seed=11)
    local = Twin(spec, **kwargs).run()
    pooled = Twin(spec, workers=2, **kwargs).run()
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = Twin(spec, cluster=cluster.scheduler_address, **kwargs).run()
    assert local.gw_per_replication == pooled.gw_per_replication == on_dask.gw_per_replication
    assert len(set(local.gw_per_replication)) > 1  # replications are independent, not copies
    other_seed = Twin(spec, **{**kwargs, "seed": 12}).run()
    assert other_seed.gw_per_replication != local.gw_per_replication


def test_each_source_has_its_own_stream_keyed_by_name():
    a = Stream(stream_seed(3, 0, "times/mech-cell-001"))
    again = Stream(stream_seed(3, 0, "times/mech-cell-001"))
    other_cell = Stream(stream_seed(3, 0, "times/mech-cell-002"))
    other_rep = Stream(stream_seed(3, 1, "times/mech-cell-001"))
    first = [a.normal() for _ in range(5)]
    assert first == [again.normal() for _ in range(5)]
    assert first != [other_cell.normal() for _ in range(5)]
    assert first != [other_rep.normal() for _ in range(5)]


def test_mini_floor_invariants_and_welch_warmup():
    spec = mini_floor()
    report = run(spec, weeks=1, replications=3, seed=2)
    # The floor starts empty and burn-in alone takes 24 h: nothing deployable comes out before,
    # so Welch's cut must lie beyond it (and within the first half of the run).
    assert 24 <= report.warmup_h <= report.run_h / 2
    assert report.warmup_method in ("welch-output", "mser5-wip")  # the later of the two cuts
    for cell_type, shares in report.time_shares.items():
        assert sum(shares.values()) == pytest.approx(1.0)
    assert report.time_shares["qa-pack-cell"]["setup"] > 0  # crating serves every product family
    assert report.time_shares["fab-cell"]["off"] > 0  # the daily maintenance window
    assert report.time_shares["burn-in-bay"]["busy"] > 0.5
    assert report.bottleneck["type"] in report.time_shares
    assert 0 <= report.p_meets_target <= 1


def test_a_plan_made_by_the_twin_is_valid_and_replays_exactly():
    spec = mini_floor(**DETERMINISTIC, **NO_FAILURES, **PERFECT_YIELD, **{"cell_types[7].unavailable": [], "transport.vehicles": 0, "release.load": 1.0})
    twin = Twin(spec, weeks=60 / 168, warmup_h=0, replications=2, seed=1)
    config = twin.config()
    trace = run_replication(type(config)(**{**config.__dict__, "record": True}), 0)
    executed = executed_schedule(trace)
    finished = _whole_units(executed, spec)
    plan = Schedule([a for a in executed.assignments if a.job in finished], horizon=executed.horizon)
    assert len(finished) > 20
    problem = build_problem(spec, orders_for(spec, WEEK_S / 3600), int(WEEK_S))
    validate(problem, plan, complete=False)  # the independent checker: capacity, precedence, setups
    # Replayed on time (no early starts: the controller would otherwise run ahead of the plan).
    on_time = Twin(spec, weeks=60 / 168, warmup_h=0, replications=2, seed=1, control_options={"early_s": 0.0})
    replay = on_time.run(schedule=plan)
    assert replay.schedule["start_delay_max_s"] == pytest.approx(0.0, abs=1e-6)
    assert replay.schedule["makespan_ratio"] == pytest.approx(1.0, abs=1e-9)
    # The same plan on the real, random floor (same maintenance windows: the plan must fit the
    # floor it runs on) starts late and finishes later.
    noisy = Twin(mini_floor(**{"cell_types[7].unavailable": []}), weeks=60 / 168, replications=3, seed=1).run(schedule=plan)
    assert noisy.schedule["share_started_late"] > 0.2
    assert noisy.schedule["makespan_h"]["mean"] > plan.makespan / 3600


def _whole_units(schedule: Schedule, spec) -> set[str]:
    ops = {p.name: len(p.routing) for p in spec.products}
    count: dict[str, int] = {}
    for a in schedule.assignments:
        count[a.job] = count.get(a.job, 0) + 1
    return {job for job, n in count.items() if n == ops[job.split("#")[0]]}


def test_release_model_is_validated_with_a_field_path():
    with pytest.raises(SpecError, match=r"release\.wip"):
        load_case("conwip_line", **{"release.wip": None})


def test_dispatch_policies_all_run_and_differ_only_where_they_should():
    spec = mini_floor()
    reports = {p: Twin(spec, weeks=0.3, warmup_h=30, replications=2, seed=4, policy=p).run() for p in ("fifo", "edd", "sq")}
    for report in reports.values():
        check_invariants(report, spec)
    # Shortest queue sends work to the slower alternative types too (pipe fitting on assembly cells).
    assert reports["sq"].queues["assembly-cell"]["starts_per_h"].mean > reports["fifo"].queues["assembly-cell"]["starts_per_h"].mean
