"""Twin speed and the default floor's answer, measured in one run:

1. One simulated week of the default 1 GW floor on one core, against a bare SimPy loop that
   pushes the same number of operations through the same cells (one Resource per cell type
   with as many slots as cells, the idiomatic SimPy job-process style). Target: <= 10 s,
   and twin / bare <= 3x.
2. R replications on 1 process and on 2 processes: the speed-up, and that both give the same
   numbers. Those replications are also the answer: deployable GW/week with its 95% CI, the
   bottleneck, P(week >= target).

Usage: python benchmarks/twin.py [--replications 30] [--spec PATH]"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simpy  # noqa: E402

from plant import load_spec  # noqa: E402
from plant.demand import WEEK_S, orders_for  # noqa: E402
from sim import Twin  # noqa: E402
from sim.layout import compile_layout  # noqa: E402
from sim.replication import RunConfig, run_replication  # noqa: E402


def twin_week(spec) -> tuple[float, int, int]:
    """CPU seconds for one simulated week, operations started, cell slots."""
    config = RunConfig(spec, end_s=WEEK_S, bin_s=WEEK_S / 250, seed=0)  # as Twin bins a run
    started = time.process_time()
    trace = run_replication(config, 0)
    seconds = time.process_time() - started
    return seconds, int(trace.wait_n.sum()), sum(s.slots for s in compile_layout(spec).stations)


def bare_simpy(spec, operations: int) -> tuple[float, int]:
    """The same operations through the same slots, SimPy's textbook way: a process per unit,
    a request per operation, nominal durations, nothing else (no failures, setups, buffers,
    transport, statistics)."""
    layout = compile_layout(spec)
    env = simpy.Environment()
    resources = [simpy.Resource(env, capacity=s.slots) for s in layout.stations]
    pattern = orders_for(spec, WEEK_S / 3600)
    done = [0]

    def unit(product):
        for op in product.ops:  # routing order is a topological order
            station, factor = op.options[0]
            with resources[station].request() as request:
                yield request
                yield env.timeout(op.duration * factor)
            done[0] += 1

    def source():
        load = spec.release.load
        week = 0
        while done[0] < operations:
            for order in pattern:
                at = (week * WEEK_S + order.release) / load
                if at > env.now:
                    yield env.timeout(at - env.now)
                env.process(unit(layout.products[layout.product_index[order.product]]))
            week += 1

    env.process(source())
    started = time.process_time()
    while done[0] < operations and env.peek() != float("inf"):
        env.step()
    return time.process_time() - started, done[0]


def controlled_week(spec, control: str) -> tuple[float, int, float]:
    """CPU seconds of one replication executing a week's steady-state plan (10 s of planning, for
    real availability) under `control`, its operations, and the bare loop's CPU seconds for as many."""
    from scheduler.control import cached_control_plan
    from scheduler.planning import Limits
    from scheduler.steady import plan_horizon

    schedule = plan_horizon(spec, int(WEEK_S), 168, "steady-state", "mw", Limits(time_limit=10, workers=1), availability=True)[2].schedule
    cached_control_plan(spec, schedule)  # built once per plan, not per replication: not timed
    end = 4.0 * schedule.makespan
    best = None
    for _ in range(2):
        config = RunConfig(spec, end_s=end, bin_s=end / 250, seed=0, schedule=schedule, control=control)
        started = time.process_time()
        trace = run_replication(config, 0)
        seconds = time.process_time() - started
        best = seconds if best is None else min(best, seconds)
    ops = trace.control["starts"]
    return best, ops, min(bare_simpy(spec, ops)[0] for _ in range(2))


def without_failures_and_agvs(spec):
    from plant.loader import spec_from_dict

    raw = spec.model_dump(mode="json")
    raw["cell_types"] = [dict(t, mttf=None) for t in raw["cell_types"]]
    raw["transport"] = {"vehicles": 0}
    return spec_from_dict(raw, f"{spec.name} without failures and AGVs")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=30)
    parser.add_argument("--spec", default=None)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work on the host slows every figure alike)")

    # CPU time of this process (the host is shared; wall time would count other people's work),
    # best of three runs of each, interleaved so both see the same conditions.
    runs = []
    for _ in range(3):
        twin_s, ops, slots = twin_week(spec)
        bare_s, bare_ops = bare_simpy(spec, ops)
        runs.append((twin_s, bare_s))
    twin_s, bare_s = min(r[0] for r in runs), min(r[1] for r in runs)
    print(f"one simulated week of {spec.name}: {twin_s:.2f} CPU s on one core ({ops} operations started, {slots} cell slots; "
          f"{twin_s / ops * 1e6:.1f} us/operation)  target <= 10 s: {'OK' if twin_s <= 10 else 'MISSED'}")
    print(f"bare SimPy loop, same {bare_ops} operations through {slots} slots: {bare_s:.2f} CPU s ({bare_s / bare_ops * 1e6:.1f} us/operation)")
    print(f"twin / bare = {twin_s / bare_s:.2f}x  target <= 3x: {'OK' if twin_s / bare_s <= 3 else 'MISSED'}")
    # What the ratio pays for: the bare loop has no failures and no AGVs; the twin without them
    # shows the cost of its own machinery (queues, buffers, setups, windows, statistics).
    plain = without_failures_and_agvs(spec)
    plain_s = min(twin_week(plain)[0] for _ in range(3))
    print(f"twin without failures and AGVs: {plain_s:.2f} CPU s = {plain_s / bare_s:.2f}x bare; "
          f"failures and AGVs add {twin_s - plain_s:.2f} s ({(twin_s - plain_s) / twin_s:.0%} of the twin's time)")

    # The same twin executing a week's plan through the floor controller (scheduler.control):
    # the plan's units, each start decided by the controller, buffers enforced.
    for control in ("blind", "repair"):
        loop_s, loop_ops, bare_loop = controlled_week(spec, control)
        print(f"twin executing a week's plan through the controller ({control}): {loop_s:.2f} CPU s for {loop_ops} operations "
              f"= {loop_s / bare_loop:.2f}x bare ({bare_loop:.2f} s for the same operations)  target <= 3x: "
              f"{'OK' if loop_s / bare_loop <= 3 else 'MISSED'}")

    reps = args.replications
    timings = {}
    reports = {}
    for workers in (1, 2):
        started = time.perf_counter()
        reports[workers] = Twin(spec, weeks=1, replications=reps, seed=0, workers=workers).run()
        timings[workers] = time.perf_counter() - started
        print(f"{reps} replications on {workers} process(es): {timings[workers]:.1f} s")
    same = reports[1].gw_per_replication == reports[2].gw_per_replication
    print(f"speed-up 2 processes / 1: {timings[1] / timings[2]:.2f}x (ideal 2.00x); identical numbers: {same}")
    for workers in (1, 2):
        cpu = reports[workers].cpu_seconds_per_replication * reps
        print(f"  {workers} process(es): {cpu:.1f} CPU s of replications in {timings[workers]:.1f} s wall = "
              f"{cpu / timings[workers]:.2f} cores obtained of {workers} asked (load average now {os.getloadavg()[0]:.1f})")

    r = reports[1]
    gw = r.gw_per_week
    print(f"{spec.name} at {spec.release.load:g}x demand offered ({r.offered_gw_per_week:.3f} GW/week), {reps} replications, "
          f"warm-up {r.warmup_h:.1f} h ({r.warmup_method}), {r.measured_h:.0f} h measured each:")
    print(f"  deployable GW/week {gw.mean:.4f}  95% CI [{gw.ci_low:.4f}, {gw.ci_high:.4f}]  target {r.target_gw:g}  "
          f"(mean / target = {gw.mean / r.target_gw:.3f})")
    for cat, iv in r.mw_by_category.items():
        print(f"  {cat:8s} MW/week {iv.mean:8.1f}  [{iv.ci_low:.1f}, {iv.ci_high:.1f}]  target {r.target_mw[cat]:.1f}")
    print(f"  P(week >= target): {r.p_meets_target:.0%} of replications; normal approximation {r.p_meets_target_normal:.1%}")
    util = r.bottleneck["utilisation_of_available_time"]
    print(f"  bottleneck: {r.bottleneck['type']} ({r.bottleneck['method']}, momentary-bottleneck share {r.bottleneck['share']:.0%}; "
          f"utilisation of available time {util[r.bottleneck['type']]:.1%})")
    print("  utilisation of available time: " + ", ".join(f"{k} {v:.1%}" for k, v in util.items()))
    print(f"  WIP {r.wip.mean:.0f} units; Little's law L={r.littles_law['L']:.1f} vs lambda*W={r.littles_law['lambda_per_h'] * r.littles_law['W_h']:.1f}")
    for warning in r.warnings:
        print(f"  warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
