"""Scheduling at gigawatt scale: three measurements, each against a bound or a baseline taken in
the same run.

1. The default 1 GW floor for a week: MW per category the plan delivers vs the capacity bound
   (target >= 98 % in every category), wall seconds (target <= 120 s), peak memory (<= 4 GB).
   Baseline: the first dispatching rule alone.
2. 100k-operation shops with a known optimal makespan, each planned in its own process (peak
   memory per shop, target <= 4 GB; CPU seconds the shop's process got and the 1-minute load
   average at its end, since the machine may be shared): generated flexible job shops (1,000
   machines, several seeds; target <= 1 % above the optimum in 600 s) and the three public
   re-entrant job shops of Da Col and Teppan (optimum 600000; target <= 3 %). Baseline: the
   best start (dispatching / insertion), measured in the same process.
3. Repair of the week's plan after one cell goes down for 4 h mid-week: seconds (<= 10 s) and
   share of not-yet-started assignments moved (<= 10 %), for one cell of each pool.
4. (on request) LNS neighbourhoods and tabu restarts as tasks on a Dask LocalCluster of 1 and 2
   worker processes: gap to the optimum at equal wall time.

    python benchmarks/scale.py            # all three, full size (about 15 minutes on 2 cores)
    python benchmarks/scale.py --quick    # 10,000 operations / 100 machines, 60 s
    python benchmarks/scale.py --only cluster --quick --cluster-workers 1 2   # Dask tasks, equal wall time
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plant import load_spec, orders_for  # noqa: E402
from plant.spec import deployable_gw  # noqa: E402
from scheduler.construct import list_schedule  # noqa: E402
from scheduler.delivery import mw_by_category  # noqa: E402
from scheduler.planning import Limits, plan  # noqa: E402
from scheduler.fjsplib import read_fjsp  # noqa: E402
from scheduler.generate import generate_fjsp  # noqa: E402
from scheduler.problem import build_problem  # noqa: E402
from scheduler.repair import Downtime, repair  # noqa: E402
from scheduler.validate import validate  # noqa: E402

WEEK_S = 7 * 86400
# The public 100k-operation re-entrant job shops (Da Col and Teppan 2022), optimum 600000 each.
DCT = Path("/work/shared/benchmarks/jobshop-100k")
DCT_OPTIMUM = 600_000


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # ru_maxrss is KiB on Linux


def cpu_seconds() -> float:
    """CPU seconds this process got (user + system): on a shared machine, wall time alone
    says more about the load than about the planner."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def week(time_limit: float, workers: int):
    print(f"== 1. default 1 GW floor, one week (plan time limit {time_limit:g} s, {workers} workers)")
    began = time.perf_counter()
    spec = load_spec()
    orders = orders_for(spec, 168)
    problem = build_problem(spec, orders, WEEK_S)
    baseline = list_schedule(problem, rule="slack")
    result = plan(problem, "mw", Limits(time_limit, workers), spec=spec)
    schedule, bound = result.schedule, result.capacity
    validate(problem, schedule)
    wall = time.perf_counter() - began
    got, base = mw_by_category(problem, schedule), mw_by_category(problem, baseline)
    print(f"   {problem.n_operations:,} operations, {len(problem.cells)} cells, {len(problem.pools)} pools; method {result.method} ({schedule.kpis.get('lns_iterations', 0)} neighbourhoods, {schedule.kpis.get('lns_improvements', 0)} improvements)")
    print(f"   {'category':<10}{'plan MW':>10}{'bound MW':>10}{'plan/bound':>12}{'dispatch-only':>15}")
    worst = 1.0
    for cat, b in bound.mw_by_category.items():
        ratio = got.get(cat, 0.0) / b if b else 1.0
        worst = min(worst, ratio)
        print(f"   {cat:<10}{got.get(cat, 0.0):>10.1f}{b:>10.1f}{ratio:>11.2%}{base.get(cat, 0.0) / b if b else 1.0:>14.2%}")
    print(f"   deployable {deployable_gw(got, spec.target):.3f} GW of bound {bound.deployable_gw:.3f} GW; bottleneck {bound.bottleneck}, busiest pool {bound.busiest_pool}")
    print(f"   worst category {worst:.2%} of bound (target >= 98%); wall {wall:.1f} s (target <= 120 s); peak memory {peak_gb():.2f} GB (target <= 4 GB)")
    return problem, schedule


def _one_shop(label: str, source: str, operations: int, machines: int, seed: int, time_limit: float, workers: int, queue) -> None:
    """One shop in a fresh process, so its peak memory is its own: gap to the optimum."""
    began = time.perf_counter()
    if source == "generated":
        known = generate_fjsp(operations, machines, seed=seed)
        problem, optimum = known.problem, known.optimum
    else:
        problem, optimum = read_fjsp(Path(source)), DCT_OPTIMUM
    result = plan(problem, "makespan", Limits(time_limit, workers, seed))
    validate(problem, result.schedule)
    start = result.kpis["start_value"]
    queue.put({"shop": label, "operations": problem.n_operations, "machines": len(problem.cells), "optimum": optimum,
               "start_gap": start / optimum - 1, "makespan": result.schedule.makespan, "gap": result.schedule.makespan / optimum - 1,
               "bound": result.bound, "method": result.method, "neighbourhoods": result.kpis.get("lns_iterations", 0),
               "improvements": result.kpis.get("lns_improvements", 0), "wall_s": time.perf_counter() - began, "peak_gb": peak_gb(),
               "cpu_s": cpu_seconds(), "load": os.getloadavg()[0], "tabu_iterations": result.kpis.get("tabu_iterations", 0)})


def shops(time_limit: float, workers: int, operations: int, machines: int, seeds: list[int], public: list[Path]) -> None:
    print(f"== 2. shops with a known optimum (time limit {time_limit:g} s, {workers} workers; one process each)")
    runs = [(f"generated {operations:,}/{machines:,} seed {seed}", "generated", seed) for seed in seeds]
    runs += [(path.stem, str(path), 0) for path in public if path.exists()]
    print(f"   {'shop':<34}{'ops':>8}{'optimum':>9}{'dispatch':>10}{'final':>9}{'gap':>8}{'nbhds':>7}{'tabu its':>10}{'wall s':>8}{'CPU s':>7}{'load':>6}{'peak GB':>9}  method")
    context = multiprocessing.get_context("fork")
    for label, source, seed in runs:
        queue = context.Queue()
        child = context.Process(target=_one_shop, args=(label, source, operations, machines, seed, time_limit, workers, queue))
        child.start()
        row = queue.get()
        child.join()
        print(f"   {row['shop']:<34}{row['operations']:>8,}{row['optimum']:>9,}{row['start_gap']:>10.2%}{row['makespan']:>9,}{row['gap']:>8.2%}"
              f"{row['neighbourhoods']:>7}{row['tabu_iterations']:>10,}{row['wall_s']:>8.0f}{row['cpu_s']:>7.0f}{row['load']:>6.1f}{row['peak_gb']:>9.2f}  {row['method']}", flush=True)


def cluster_workers(time_limit: float, operations: int, machines: int, counts: list[int]) -> None:
    """Quality at equal wall time with LNS neighbourhoods and tabu restarts as tasks on a local
    Dask cluster of 1, 2, ... worker processes (one thread and one CP-SAT worker each)."""
    from dask.distributed import LocalCluster

    print(f"== 4. search tasks on a Dask LocalCluster: generated {operations:,}/{machines:,}, {time_limit:g} s each")
    known = generate_fjsp(operations, machines, seed=1)
    for count in counts:
        with LocalCluster(n_workers=count, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
            began = time.perf_counter()
            result = plan(known.problem, "makespan", Limits(time_limit, 1, cluster=cluster))
            wall = time.perf_counter() - began
        validate(known.problem, result.schedule)
        print(f"   {count} worker process(es): makespan {result.schedule.makespan} (gap to optimum {result.schedule.makespan / known.optimum - 1:.2%}), "
              f"{result.kpis.get('lns_iterations', 0)} neighbourhoods, {result.kpis.get('lns_improvements', 0)} improvements, wall {wall:.0f} s", flush=True)


def repairs(problem, schedule) -> None:
    now = WEEK_S // 2
    print(f"== 3. repair: one cell down for 4 h from {now / 86400:g} d (now = the breakdown)")
    worst_share = worst_seconds = 0.0
    for pool in problem.pools:
        cell = problem.cells[pool.cells[len(pool.cells) // 2]].id
        result = repair(problem, schedule, [Downtime(cell, now, 4 * 3600)], now)
        share = result.moved / result.unstarted if result.unstarted else 0.0
        lost = sum(mw_by_category(problem, schedule).values()) - sum(mw_by_category(problem, result.schedule).values())
        worst_share, worst_seconds = max(worst_share, share), max(worst_seconds, result.seconds)
        print(f"   {cell:<22} moved {result.moved:>5} of {result.unstarted:,} unstarted ({share:.2%}), {result.seconds:.2f} s, MW lost {lost:.1f}")
    print(f"   worst: {worst_share:.2%} moved (target <= 10%), {worst_seconds:.2f} s (target <= 10 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 operations / 100 machines for 60 s in part 2")
    parser.add_argument("--week-time-limit", type=float, default=60.0)
    parser.add_argument("--fjsp-time-limit", type=float, default=None)
    parser.add_argument("--operations", type=int, default=None)
    parser.add_argument("--machines", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3], help="generator seeds for part 2 (none: public shops only)")
    parser.add_argument("--no-public", action="store_true", help="part 2 without the three public 100k job shops")
    parser.add_argument("--cluster-workers", type=int, nargs="*", default=None, help="part 4: compare these Dask worker counts (e.g. 1 2)")
    parser.add_argument("--only", choices=["week", "fjsp", "repair", "cluster"], default=None)
    args = parser.parse_args()
    operations = args.operations or (10_000 if args.quick else 100_000)
    machines = args.machines or (100 if args.quick else 1_000)
    fjsp_limit = args.fjsp_time_limit or (60.0 if args.quick else 600.0)
    if args.only in (None, "week", "repair"):
        problem, schedule = week(args.week_time_limit, args.workers)
        if args.only in (None, "repair"):
            repairs(problem, schedule)
    if args.only in (None, "fjsp"):
        public = [] if args.no_public or args.quick else sorted(DCT.glob("*.fjs"))
        shops(fjsp_limit, args.workers, operations, machines, args.seeds, public)
    if args.only == "cluster" or (args.only is None and args.cluster_workers):
        cluster_workers(fjsp_limit if args.quick else 120.0, 10_000, 100, args.cluster_workers or [1, 2])


if __name__ == "__main__":
    main()
