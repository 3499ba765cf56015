"""Independent search tasks (scheduler/distributed.py): tabu restarts of the whole-problem route
and the large route's rounds run as tasks here, in forked processes or on a Dask LocalCluster,
and give the same kind of result as one process."""
from __future__ import annotations

import importlib
import os

from scheduler.cpsat import solve
from scheduler.cpsat.warmstart import improve_makespan, warm_start
from scheduler.distributed import Tasks
from scheduler.generate import generate_fjsp
from scheduler.planning import Limits, plan
from scheduler.validate import validate

# The module, not the function the package exports under the same name.
cpsat_solve = importlib.import_module("scheduler.cpsat.solve")


def _pid_and(value):
    return os.getpid(), value


def _size(problem) -> int:
    return problem.n_operations


def test_local_processes_keep_call_order_and_really_fork():
    calls = [((k,), {}) for k in range(5)]
    results = Tasks().run(_pid_and, calls, processes=3)
    assert [value for _, value in results] == list(range(5))
    assert results[0][0] == os.getpid()  # the first call runs here ...
    assert {pid for pid, _ in results[1:]} - {os.getpid()}  # ... the rest in forked children


def test_tabu_restarts_use_the_local_worker_processes():
    known = generate_fjsp(120, 6, job_length=6, seed=3)
    start = warm_start(known.problem, "makespan", 1.0)
    one = improve_makespan(known.problem, start, 2.0, known.optimum, seed=0, workers=1)
    two = improve_makespan(known.problem, start, 2.0, known.optimum, seed=0, workers=2)
    assert one.kpis["tabu_restarts"] == 1 and two.kpis["tabu_restarts"] == 2
    for found in (one, two):
        validate(known.problem, found)
        assert known.optimum <= found.makespan <= start.makespan


def test_shared_data_is_scattered_once_and_reaches_tasks_inside_their_arguments():
    from dask.distributed import LocalCluster

    known = generate_fjsp(60, 4, job_length=5, seed=1)
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, Tasks(cluster) as tasks:
        handle = tasks.share(known.problem)
        assert tasks.share(known.problem) is handle  # one copy on the cluster, however often asked
        assert handle is not known.problem
        assert tasks.run(_size, [((handle,), {}), ((handle,), {})]) == [60, 60]


def test_whole_problem_route_runs_its_tabu_restarts_on_the_cluster(monkeypatch):
    # Below the size routing threshold: one tabu restart per cluster thread, then CP-SAT; the
    # result is measured and validated as a local one is. Without the probe, which can prove
    # the optimum first and leave the tabu search nothing to do.
    from dask.distributed import LocalCluster

    monkeypatch.setattr(cpsat_solve, "PROBE_SHARE", 0.0)

    known = generate_fjsp(120, 6, job_length=6, seed=3)
    local = plan(known.problem, "makespan", Limits(3.0, 1))
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
        remote = plan(known.problem, "makespan", Limits(3.0, 1, cluster=cluster))
    for result in (local, remote):
        validate(known.problem, result.schedule)
        assert result.method == "cp-sat" and known.optimum <= result.value
        assert result.bound <= known.optimum
    assert remote.kpis["tabu_restarts"] == 2 and remote.kpis["tabu_iterations"] > 0
    assert set(local.kpis) <= set(remote.kpis) | {"tabu_restarts"}


def test_solve_without_a_cluster_runs_one_restart_per_worker(monkeypatch):
    monkeypatch.setattr(cpsat_solve, "PROBE_SHARE", 0.0)  # the probe could prove the optimum first
    known = generate_fjsp(120, 6, job_length=6, seed=3)
    found = solve(known.problem, objective="makespan", time_limit=3.0, workers=2)
    validate(known.problem, found)
    assert found.kpis["tabu_restarts"] == 2 and found.makespan >= known.optimum


def test_an_object_passed_to_several_tasks_is_scattered_once():
    # The large route hands every tabu restart the same problem and start plan.
    from dask.distributed import LocalCluster

    known = generate_fjsp(60, 4, job_length=5, seed=1)
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, Tasks(cluster) as tasks:
        assert tasks.run(_size, [((known.problem,), {}), ((known.problem,), {})]) == [60, 60]
        assert [value for value, _ in tasks._shared.values()] == [known.problem]
        assert tasks.run(_pid_and, [((7,), {}), ((7,), {})])[0][1] == 7  # scalars travel as they are
        assert len(tasks._shared) == 1
        starts = [known.problem, known.problem]  # a list passed whole, as the large route's starts
        assert tasks.run(len, [((starts,), {}), ((starts,), {})]) == [2, 2]
