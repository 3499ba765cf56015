"""A week of a 10 GW/week floor planned on this machine: the default catalog with its demand,
targets and cell counts scaled by `--factor` (sim.sizing.scaled_spec, the twin's own scaling),
through the one front door (`scheduler.plan`, objective MW). Prints what docs/scheduling.md
section 8 reports: operations and cells, wall seconds per phase, peak memory of this process,
and MW per category against the capacity bound measured in the same run (the gap to bound).

    PYTHONPATH=. python benchmarks/tenfold.py --factor 10 --time-limit 300
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plant import load_spec, orders_for  # noqa: E402
from plant.spec import deployable_gw  # noqa: E402
from scheduler.delivery import mw_by_category  # noqa: E402
from scheduler.planning import Limits, plan  # noqa: E402
from scheduler.problem import build_problem  # noqa: E402
from scheduler.validate import validate  # noqa: E402
from sim.sizing import scaled_spec  # noqa: E402

WEEK_S = 7 * 86400


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=None, help="factory spec (default: the default catalog)")
    parser.add_argument("--factor", type=float, default=10.0, help="scale of demand, targets and cells")
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=float, default=168.0, help="planned horizon (a week)")
    args = parser.parse_args(argv)
    if args.factor <= 0 or args.time_limit <= 0 or args.hours <= 0:
        print("--factor, --time-limit and --hours must be > 0", file=sys.stderr)
        return 2
    cpu0, began = time.process_time(), time.perf_counter()
    base = load_spec(args.spec)
    spec = scaled_spec(base, base.target.facility_gw * args.factor) if args.factor != 1 else base
    horizon = int(args.hours * 3600)
    problem = build_problem(spec, orders_for(spec, args.hours), horizon)
    built = time.perf_counter()
    print(f"{spec.name}: {problem.n_operations:,} operations, {len(problem.jobs):,} units, {len(problem.cells):,} cells, "
          f"{len(problem.pools)} pools; built in {built - began:.1f} s, peak {peak_gb():.2f} GB", flush=True)
    result = plan(problem, "mw", Limits(args.time_limit, args.workers), spec=spec)
    planned = time.perf_counter()
    validate(problem, result.schedule)
    checked = time.perf_counter()
    got, bound = mw_by_category(problem, result.schedule), result.capacity
    print(f"plan: method {result.method}, status {result.status}, {result.kpis.get('lns_iterations', 0)} neighbourhoods "
          f"({result.kpis.get('lns_improvements', 0)} better, stopped: {result.kpis.get('lns_stopped', '-')}); "
          f"plan {planned - built:.1f} s, validate {checked - planned:.1f} s")
    for category, b in bound.mw_by_category.items():
        print(f"  {category:<10} {got.get(category, 0.0):>10.1f} MW of bound {b:>10.1f} MW ({got.get(category, 0.0) / b if b else 1:.2%})")
    print(f"deployable {deployable_gw(got, spec.target):.3f} GW of bound {bound.deployable_gw:.3f} GW; "
          f"gap to bound {100 * (result.gap or 0):.2f}% (MW summed over categories)")
    print(f"wall {checked - began:.1f} s, CPU {time.process_time() - cpu0:.1f} s, peak memory {peak_gb():.2f} GB, "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
