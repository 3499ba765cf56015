"""Scale-out: the same floor design at 1 GW/week and at 10 GW/week (demand, target and cell
counts scaled by sim.sizing.scaled_spec), one simulated week each on one core, in one run.

Prints CPU and wall seconds per simulated week at both scales and their ratio against the
linear baseline (10x the work should cost 10x): a ratio above 1 means the twin scales worse
than linearly. With --cluster tcp://HOST:8786 the 10 GW replications also run on that Dask
cluster and the wall time of R replications there is printed beside the local one.

Usage: python benchmarks/scale_out.py [--spec PATH] [--factor 10] [--replications 2] [--cluster ADDR]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plant import load_spec  # noqa: E402
from plant.demand import WEEK_S  # noqa: E402
from sim import Twin  # noqa: E402
from sim.layout import compile_layout  # noqa: E402
from sim.replication import RunConfig, run_replication  # noqa: E402
from sim.sizing import scaled_spec  # noqa: E402


def one_week(spec) -> tuple[float, float, int, int]:
    """(CPU s, wall s, operations started, cell slots) of one simulated week, one replication."""
    config = RunConfig(spec, end_s=WEEK_S, bin_s=WEEK_S / 250, seed=0)
    cpu, wall = time.process_time(), time.perf_counter()
    trace = run_replication(config, 0)
    return time.process_time() - cpu, time.perf_counter() - wall, int(trace.wait_n.sum()), sum(s.slots for s in compile_layout(spec).stations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=None)
    parser.add_argument("--factor", type=float, default=10.0)
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--cluster", default=None)
    args = parser.parse_args()
    base = load_spec(args.spec)
    big = scaled_spec(base, base.target.facility_gw * args.factor)
    rows = []
    for spec in (base, big):
        cpu, wall, ops, slots = one_week(spec)
        rows.append((spec.target.facility_gw, cpu, wall, ops, slots))
        print(f"{spec.target.facility_gw:g} GW/week floor: {slots:,} cell slots, {ops:,} operations in a week: "
              f"{cpu:.2f} CPU s, {wall:.2f} wall s per simulated week ({cpu / max(ops, 1) * 1e6:.1f} µs/operation)", flush=True)
    (g1, c1, w1, o1, _), (g2, c2, w2, o2, _) = rows
    print(f"ratio {g2 / g1:g}x floor: CPU {c2 / c1:.2f}x, wall {w2 / w1:.2f}x, operations {o2 / o1:.2f}x; "
          f"against linear ({o2 / o1:.2f}x the operations): CPU {c2 / c1 / (o2 / o1):.2f}, wall {w2 / w1 / (o2 / o1):.2f}")
    if args.cluster:
        for label, kwargs in (("local, 1 process", {}), (f"Dask {args.cluster}", {"cluster": args.cluster})):
            began = time.perf_counter()
            report = Twin(big, weeks=1, warmup_h=48, replications=args.replications, **kwargs).run()
            print(f"{label}: {args.replications} replications of the {g2:g} GW floor in {time.perf_counter() - began:.1f} s wall; "
                  f"{report.gw_per_week.mean:.3f} GW/week [{report.gw_per_week.ci_low:.3f}, {report.gw_per_week.ci_high:.3f}]", flush=True)


if __name__ == "__main__":
    main()
