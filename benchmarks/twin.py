"""Twin speed and the default floor's answer, measured in one run:

1. The bare SimPy loop: the same operations through the same cells, SimPy's textbook way (a
   process per unit, one Resource per cell type with as many slots as cells, nominal times,
   nothing else). Its CPU seconds per operation are the baseline of every ratio below.
2. One simulated week of the default 1 GW floor under the twin's dispatch rule. Target: <= 10 s
   and <= 3x the bare loop.
3. A week's plan (steady state, planned for real availability; `--plan schedule.json` or
   planned here) executed in the twin: its units under the dispatch rule (`rule`), and through
   the floor controller (`blind`, `repair`, `replan`). CPU seconds, operations, ratio to the
   bare loop for as many operations; for repair and replan also the CPU seconds of the heavy
   decisions inside (cell-down repairs: scheduler.repair; re-plans: the list scheduler) and the
   ratio without them. Target: <= 3x for the controller runs.
   Then the floor alone (`--floor-alone`): the same runs with the controller's answers
   replayed (nothing decided), so the ratio splits into the floor's part and the controller's.
4. Linearity: CPU microseconds per operation at 1 GW and at `--scale` x the floor over
   `--scale-hours` from empty; their ratio is 1.00 when the twin scales linearly.
5. R replications on 1 process and on 2 processes: the speed-up, that both give the same
   numbers, and the answer: deployable GW/week with its 95% CI, the bottleneck, P(week >= target).

Every figure is CPU seconds of this process (the host is shared; wall time would count other
people's work), best of `--repeat` runs, runs of different kinds interleaved so all see the
same conditions; the load average is printed with them. With more than one round, each
round's run is also set against that round's bare loop (median, min, max over the rounds).

`--fingerprint` instead prints, per control, a digest of the executed schedule (job, op, cell,
start, end of every operation) and of the decision log (CPU-time fields left out): a change
that makes the twin faster must leave both unchanged, or explain each difference.

Usage: python benchmarks/twin.py [--plan PLAN.json] [--time-limit 10] [--repeat 2]
       [--scale 10] [--scale-hours 72] [--replications 30] [--spec PATH] [--fingerprint]"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simpy  # noqa: E402

from plant import load_spec  # noqa: E402
from plant.demand import WEEK_S, orders_for  # noqa: E402
from sim import Twin  # noqa: E402
from sim import collector  # noqa: E402
from sim.layout import compile_layout  # noqa: E402
from sim.replication import RunConfig, run_replication  # noqa: E402

CONTROLS = ("rule", "blind", "repair", "replan")


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def twin_run(spec, end_s: float) -> tuple[float, int, int]:
    """CPU seconds of one replication under the dispatch rule from an empty floor, operations
    started, cell slots."""
    config = RunConfig(spec, end_s=end_s, bin_s=end_s / 250, seed=0)  # as Twin bins a run
    started = time.process_time()
    trace = run_replication(config, 0)
    seconds = time.process_time() - started
    return seconds, int(trace.wait_n.sum()), sum(s.slots for s in compile_layout(spec).stations)


def bare_simpy(spec, operations: int) -> tuple[float, int]:
    """The same operations through the same slots, SimPy's textbook way: a process per unit,
    a request per operation, nominal durations, nothing else (no failures, setups, buffers,
    transport, statistics). Under the same collector settings as a replication."""
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
    with collector.quiet():
        while done[0] < operations and env.peek() != float("inf"):
            env.step()
    return time.process_time() - started, done[0]


def week_plan(spec, path: str | None, time_limit: float):
    """A week's steady-state plan for real availability: read, or planned here."""
    from scheduler.schedule import Schedule

    if path:
        return Schedule.from_json(path)
    from scheduler.planning import Limits
    from scheduler.steady import plan_horizon

    return plan_horizon(spec, int(WEEK_S), 168, "steady-state", "mw", Limits(time_limit=time_limit, workers=1),
                        availability=True)[2].schedule


def controlled_run(spec, schedule, control: str) -> dict:
    """One replication executing the plan under `control`: CPU seconds, operations started, and
    the CPU seconds of its heavy decisions (cell-down repairs, re-plans)."""
    end = 4.0 * schedule.makespan
    config = RunConfig(spec, end_s=end, bin_s=end / 250, seed=0, schedule=schedule, control=control)
    started = time.process_time()
    trace = run_replication(config, 0)
    seconds = time.process_time() - started
    c = trace.control
    heavy = c.get("cell_down_cpu_s", 0.0) + c.get("replan_cpu_s", 0.0)
    return {"cpu_s": seconds, "ops": int(trace.wait_n.sum()), "heavy_s": heavy, "events": len(c.get("decision_s", ())),
            "replans": c.get("replans", 0), "cell_downs": len(c.get("cell_down_decision_s", ()))}


def fingerprints(spec, schedule, controls=CONTROLS) -> dict[str, tuple[str, str, int]]:
    """control -> (digest of the executed schedule, digest of the decision log, operations)."""
    from sim import execution

    logs = []
    record = execution.ControlBridge.record

    def keep_log(bridge):  # the log stays with the controller; the trace only has its counts
        logs.append(bridge.ctrl.log.rows)
        return record(bridge)

    out = {}
    execution.ControlBridge.record = keep_log
    try:
        for control in controls:
            logs.clear()
            end = 4.0 * schedule.makespan
            config = RunConfig(spec, end_s=end, bin_s=end / 250, seed=0, schedule=schedule, control=control, record=True)
            trace = run_replication(config, 0)
            executed = hashlib.sha256(repr(trace.executed).encode()).hexdigest()[:16]
            rows = [row[:5] + (_without_cpu(row[5]),) for row in (logs[0] if logs else [])]
            out[control] = (executed, hashlib.sha256(repr(rows).encode()).hexdigest()[:16], len(trace.executed))
    finally:
        execution.ControlBridge.record = record
    return out


def _without_cpu(detail):
    if isinstance(detail, dict):
        return {k: v for k, v in detail.items() if "cpu" not in k}
    return detail


def floor_alone(spec, schedule, control: str) -> float:
    """CPU seconds of the floor alone executing the plan under `control`: a first run records
    every answer the controller gives the floor (decisions, next wake-up, pools), a second run
    replays them through a stand-in that decides nothing. The same events, starts and moves
    happen; what is left is the floor model, the bridge and the statistics."""
    from sim import replication

    answers: list = []
    real = replication.FloorController

    class Recording:
        """The real controller, with every answer the floor reads kept (its own calls are not)."""

        def __init__(self, plan, config):
            self.ctrl = real(plan, config)
            self.config = self.ctrl.config

        def _event(name):
            def answer(self, *args):
                out = getattr(self.ctrl, name)(*args)
                answers.append((out, self.ctrl.next_wake))
                return out
            return answer

        handle, handle_rows = _event("handle"), _event("handle_rows")
        on_ready, on_completed = _event("on_ready"), _event("on_completed")

        @property
        def next_wake(self):
            return self.ctrl.next_wake

        def pool_of(self, t):
            answers.append(self.ctrl.pool_of(t))
            return answers[-1]

        def summary(self):
            return self.ctrl.summary()

    end = 4.0 * schedule.makespan
    config = RunConfig(spec, end_s=end, bin_s=end / 250, seed=0, schedule=schedule, control=control)
    replication.FloorController = Recording
    try:
        ops = int(run_replication(config, 0).wait_n.sum())
    finally:
        replication.FloorController = real
    summary = {}

    class Replayed:
        """Gives the floor the recorded answers, in order."""

        def __init__(self, plan, config):
            self.config, self.next_wake, self._next = config, math.inf, replayed.__next__

        def _event(self, *args):
            out, self.next_wake = self._next()
            return out

        handle = handle_rows = on_ready = on_completed = _event

        def pool_of(self, t):
            return self._next()

        def summary(self):
            return summary

    replayed = iter(answers)
    replication.FloorController = Replayed
    try:
        trace = run_replication(config, 0)
    finally:
        replication.FloorController = real
    if int(trace.wait_n.sum()) != ops or next(replayed, None) is not None:
        raise AssertionError("the replay went another way than the recorded run")
    return trace.cpu_s


def without_failures_and_agvs(spec):
    from plant.loader import spec_from_dict

    raw = spec.model_dump(mode="json")
    raw["cell_types"] = [dict(t, mttf=None) for t in raw["cell_types"]]
    raw["transport"] = {"vehicles": 0}
    return spec_from_dict(raw, f"{spec.name} without failures and AGVs")


def paired_ratios(bare: list[tuple[float, int]], runs: list[dict]) -> list[float]:
    """Each round's run against the bare loop of the same round (per operation): on a host whose
    speed drifts over minutes, runs of one round see about the same conditions, as the best of
    each kind over the rounds may not."""
    return [run["cpu_s"] / (seconds / ops * run["ops"]) for (seconds, ops), run in zip(bare, runs)]


def verdict(ratio: float, bound: float = 3.0) -> str:
    return f"target <= {bound:g}x: {'OK' if ratio <= bound else 'MISSED'}"


def speed(spec, args) -> None:
    from scheduler.control import cached_control_plan

    schedule = week_plan(spec, args.plan, args.time_limit)
    cached_control_plan(spec, schedule)  # built once per plan, not per replication: not timed
    print(f"plan: {len(schedule.assignments)} operations over {schedule.makespan / 3600:.0f} h "
          f"({'read from ' + args.plan if args.plan else f'planned here, {args.time_limit:g} s'}); {load()}", flush=True)

    # Interleaved rounds: the bare loop, the dispatch twin, each control; best of the rounds.
    bare, dispatch, runs = [], [], {c: [] for c in CONTROLS}
    alone = {c: [] for c in args.floor_alone}
    for _ in range(args.repeat):
        dispatch.append(twin_run(spec, WEEK_S))
        bare.append(bare_simpy(spec, dispatch[-1][1]))
        for control in CONTROLS:
            runs[control].append(controlled_run(spec, schedule, control))
        for control in args.floor_alone:
            alone[control].append(floor_alone(spec, schedule, control))
    bare_s, bare_ops = min(b[0] for b in bare), bare[0][1]
    per_op = bare_s / bare_ops
    twin_s, ops, slots = min(d[0] for d in dispatch), dispatch[0][1], dispatch[0][2]
    print(f"bare SimPy loop: {bare_s:.3f} CPU s for {bare_ops} operations through {slots} cell slots "
          f"({per_op * 1e6:.2f} us/operation): the baseline of every ratio; {load()}")
    print(f"dispatch twin, one simulated week: {twin_s:.2f} CPU s for {ops} operations ({twin_s / ops * 1e6:.1f} us/operation) "
          f"= {twin_s / (per_op * ops):.2f}x bare  {verdict(twin_s / (per_op * ops))}; target <= 10 s: "
          f"{'OK' if twin_s <= 10 else 'MISSED'}")
    print(f"{'executing the week plan':24s} {'CPU s':>7s} {'operations':>10s} {'us/op':>6s} {'x bare':>7s} "
          f"{'heavy CPU s':>11s} {'x bare w/o heavy':>16s}")
    paired = {c: paired_ratios(bare, runs[c]) for c in CONTROLS}
    for control in CONTROLS:
        best = min(runs[control], key=lambda r: r["cpu_s"])
        light = min(r["cpu_s"] - r["heavy_s"] for r in runs[control])
        base = per_op * best["ops"]
        heavy = (f"{best['heavy_s']:11.2f} {light / base:15.2f}x" if control in ("repair", "replan") else f"{'-':>11s} {'-':>16s}")
        what = {"rule": "dispatch rule", "blind": "controller, blind", "repair": "controller, repair",
                "replan": "controller, replan"}[control]
        extra = ""
        if control in ("repair", "replan"):
            extra = f"  ({best['cell_downs']} cell-down repairs, {best['replans']} re-plans)"
        target = f"  {verdict(best['cpu_s'] / base)}" if control != "rule" else ""
        print(f"{what:24s} {best['cpu_s']:7.2f} {best['ops']:10d} {best['cpu_s'] / best['ops'] * 1e6:6.1f} "
              f"{best['cpu_s'] / base:6.2f}x {heavy}{target}{extra}")
    print(f"  ({best['events']} controller events in the last run; {load()})")
    if args.repeat > 1:
        print(f"  each round's run against that round's bare loop, median [min, max] of {args.repeat} rounds: "
              + "; ".join(f"{c} {statistics.median(r):.2f}x [{min(r):.2f}, {max(r):.2f}]" for c, r in paired.items()))
    # Which side costs what: the floor with the controller's answers replayed, nothing decided.
    for control, seconds in alone.items():
        best, floor_s = min(runs[control], key=lambda r: r["cpu_s"]), min(seconds)
        light = min(r["cpu_s"] - r["heavy_s"] for r in runs[control])
        print(f"floor alone, {control} (the controller's answers replayed): {floor_s:.2f} CPU s = "
              f"{floor_s / (per_op * best['ops']):.2f}x bare; the controller adds {(light - floor_s) / best['ops'] * 1e6:.1f} us/operation "
              f"without heavy decisions")
    # What the dispatch twin's ratio pays for: the bare loop has no failures and no AGVs.
    plain = without_failures_and_agvs(spec)
    plain_s = min(twin_run(plain, WEEK_S)[0] for _ in range(args.repeat))
    print(f"dispatch twin without failures and AGVs: {plain_s:.2f} CPU s = {plain_s / (per_op * ops):.2f}x bare; "
          f"failures and AGVs add {twin_s - plain_s:.2f} s ({(twin_s - plain_s) / twin_s:.0%} of the twin's time)", flush=True)


def linearity(spec, factor: float, hours: float) -> None:
    from sim.sizing import scaled_spec

    big = scaled_spec(spec, spec.target.facility_gw * factor)
    rows = []
    for s in (spec, big):
        cpu, ops, slots = twin_run(s, hours * 3600)
        rows.append((cpu, ops, slots))
        print(f"  {s.target.facility_gw:g} GW floor, {hours:g} h from empty: {cpu:.2f} CPU s, {ops} operations on {slots} slots, "
              f"{cpu / ops * 1e6:.1f} us/operation; {load()}", flush=True)
    (c1, o1, _), (c2, o2, _) = rows
    print(f"linearity {factor:g}x floor: {o2 / o1:.2f}x the operations cost {c2 / c1:.2f}x the CPU: "
          f"{(c2 / o2) / (c1 / o1):.2f}x the CPU per operation (1.00 = linear)")


def replications(spec, reps: int) -> None:
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
              f"{cpu / timings[workers]:.2f} cores obtained of {workers} asked ({load()})")

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=None)
    parser.add_argument("--plan", default=None, help="a week's plan (schedule.json) to execute instead of planning one")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds of planning when no --plan is given")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every timed run (best is reported)")
    parser.add_argument("--scale", type=float, default=10.0, help="the larger floor of the linearity check (0: skip it)")
    parser.add_argument("--scale-hours", type=float, default=72.0, help="simulated hours of the linearity check")
    parser.add_argument("--replications", type=int, default=30, help="replications of the answer (0: skip it)")
    parser.add_argument("--floor-alone", type=lambda v: [c for c in v.split(",") if c], default="blind,repair",
                        help="controls whose floor is also timed alone in every round, the controller's answers replayed ('' skips)")
    parser.add_argument("--fingerprint", action="store_true",
                        help="only print digests of each control's executed schedule and decision log")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    if args.fingerprint:
        for control, (executed, log, ops) in fingerprints(spec, week_plan(spec, args.plan, args.time_limit)).items():
            print(f"{control:7s} executed {executed}  decisions {log}  ({ops} operations)", flush=True)
        return 0
    print(f"machine: {os.cpu_count()} cores, {load()} (other work on the host slows every figure alike)", flush=True)
    from scheduler.control import native

    print(f"floor controller: {native.status()} (scheduler/control/native.py; make builds it)", flush=True)
    speed(spec, args)
    if args.scale > 0:
        linearity(spec, args.scale, args.scale_hours)
    if args.replications > 0:
        replications(spec, args.replications)
    return 0


if __name__ == "__main__":
    sys.exit(main())
