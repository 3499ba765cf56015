"""One replication: build the floor from the spec, run it, return its Trace. A plain function of
picklable inputs, so a process pool or a Dask worker runs exactly what a local loop runs."""
from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL

from plant.spec import FactorySpec
from scheduler.schedule import Assignment, Schedule
from scheduler.control import POLICIES as CONTROLS
from scheduler.control import ControlConfig, ControlPlan, FloorController, cached_control_plan
from sim import collector
from sim.execution import ControlBridge, plan_units
from sim.floor import Floor
from scheduler.problem import recorded_downtime
from sim.layout import compile_layout
from sim.observer import Observer, Trace
from sim.release import start_release
from sim.streams import Seeds, Stream

POLICIES = ("fifo", "edd", "sq")


@dataclass(frozen=True)
class RunConfig:
    spec: FactorySpec
    end_s: float  # simulated length of each replication
    bin_s: float  # statistics bin (warm-up is cut at a bin edge)
    seed: int = 0
    policy: str = "fifo"
    schedule: Schedule | None = None
    record: bool = False  # keep every executed operation (job, op, cell, start, end) in the trace
    control: str = "repair"  # executing a plan: rule (the dispatch policy, plan's units only) | blind | repair | replan
    control_options: tuple = ()  # (name, value) overrides of the policy's ControlConfig

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy: {self.policy!r} is not a dispatch policy; valid: {', '.join(POLICIES)}")
        if self.control not in CONTROLS:
            raise ValueError(f"control: {self.control!r} is not a control policy; valid: {', '.join(CONTROLS)}")
        if self.control != "rule":
            self.control_config()  # fail early on bad options

    def control_config(self) -> ControlConfig:
        return ControlConfig.policy(self.control, **dict(self.control_options))
        if not self.end_s > 0 or not self.bin_s > 0:
            raise ValueError("run length and statistics bin must be > 0")


def run_replication(config: RunConfig, replication: int) -> Trace:
    cpu_started = time.process_time()
    with collector.quiet():
        trace = _replication(config, replication)
    trace.cpu_s = time.process_time() - cpu_started  # with the collection of the run's cycles
    return trace


def _replication(config: RunConfig, replication: int) -> Trace:
    started = time.perf_counter()
    cpu_started = time.process_time()
    spec = config.spec
    # A repaired plan's cells are down where the repair said (kpis.down), in every replication.
    layout = compile_layout(spec, recorded_downtime(config.schedule.kpis) if config.schedule is not None else None)
    env = FloorEnvironment()

    seeds = Seeds(config.seed, replication)

    def streams(source: str) -> Stream:
        return Stream(seeds(source))

    observer = Observer(env, config.end_s, config.bin_s, [s.slots for s in layout.stations], len(layout.products))
    transport = (spec.transport.vehicles, spec.transport.travel_time, spec.transport.travel_cv)
    control = None
    if config.schedule is None:
        floor = Floor(env, layout, observer, streams, config.policy, transport)
        floor.executed = [] if config.record else None
        start_release(env, floor, spec, layout, streams("arrivals"))
        run_until(env, config.end_s)
    else:
        plan = cached_control_plan(spec, config.schedule)
        if config.control != "rule":
            control = ControlBridge(plan, FloorController(plan, config.control_config()), layout)
        floor = Floor(env, layout, observer, streams, config.policy, transport, control)
        floor.executed = [] if config.record else None
        units = plan_units(env, floor, plan, layout)
        finished_at: dict[int, float] = {}
        # Run until every planned unit is finished (or the cap, if the floor cannot finish it).
        done = env.event()

        def finish(unit) -> None:
            finished_at[unit.key] = env.now
            if len(finished_at) == len(units) and not done.triggered:
                done.succeed()

        floor.on_finish = finish
        run_until(env, simpy.events.AnyOf(env, [done, env.timeout(config.end_s)]))
        record = control.record() if control is not None else {}
        record.update(delivered_by_horizon(plan, finished_at), units=len(units), units_finished=len(finished_at),
                      deadlocks_resolved=floor.deadlocks_resolved)
    floor.close()
    trace = observer.close(time.perf_counter() - started)
    trace.executed = floor.executed
    trace.cpu_s = time.process_time() - cpu_started
    trace.control = record if config.schedule is not None else None
    floor.dismantle()
    return trace


class FloorEnvironment(simpy.Environment):
    """SimPy's Environment with a second queue, `soon`: events due now with normal priority, in
    the order they were scheduled, each with the event id and the time it took (`schedule_now`). Executing a
    plan, a cell handed work starts at such an event (sim.plancells.PlanCells.hand; in the repair
    week ~0.7 an operation). In SimPy's heap an entry due now climbs to the top and is taken off
    again, ~20 tuple comparisons of a thousand-entry heap; here it is a deque's append and
    popleft. The order is SimPy's: an entry of `soon` runs when no heap entry comes before it by
    (time, priority, id), which `run_until` checks at every step; `step` and `peek` (SimPy's own
    `run`) first move `soon` into the heap with the ids it took, so they see what one heap would
    hold."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self.soon: deque = deque()  # (event id, time, event), due at the current time

    def schedule_now(self, event: simpy.Event) -> None:
        """`schedule(event)` (now, normal priority)."""
        self.soon.append((next(self._eid), self._now, event))

    def _flush(self) -> None:
        soon, queue = self.soon, self._queue
        while soon:
            eid, at, event = soon.popleft()
            heapq.heappush(queue, (at, NORMAL, eid, event))

    def step(self) -> None:
        self._flush()
        super().step()

    def peek(self) -> float:
        self._flush()
        return super().peek()


def run_until(env: simpy.Environment, until: simpy.Event | float):
    """`env.run(until=until)` (an event, or a time), with SimPy's step inline: a week's plan
    runs ~150,000 events, and a call of `step` per event was a tenth of the floor's time. The
    same steps in the same order (Environment.run and step, SimPy 4.1): pop the next event, run
    its callbacks, crash on a failed event nobody defused, stop when `until` is processed and
    return its value. A whole-number time stays an int, as run keeps it (env.now, Trace.end_s).
    In a FloorEnvironment the next event is the first of `soon` unless the heap's first comes
    before it (the same time, and an urgent priority or a smaller event id)."""
    if not isinstance(until, simpy.Event):  # as run: an event at that time, before the others then
        at = until if isinstance(until, int) else float(until)
        if at <= env.now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        until = simpy.Event(env)
        until._ok, until._value = True, None
        env.schedule(until, simpy.events.URGENT, at - env.now)
    elif until.callbacks is None:  # already processed
        return until.value
    until.callbacks.append(StopSimulation.callback)
    queue, pop = env._queue, heapq.heappop
    soon = getattr(env, "soon", ())  # a FloorEnvironment's events due now
    try:
        while True:
            if soon:  # its first entry, unless a heap entry comes before it by (time, priority, id)
                if queue and queue[0][0] == env._now and (queue[0][1] < NORMAL or queue[0][1] == NORMAL and queue[0][2] < soon[0][0]):
                    env._now, _, _, event = pop(queue)
                else:
                    # The time it was scheduled at, as a heap pop sets it: equal to now, but an int
                    # time stays an int and a float a float (env.now's type, as SimPy keeps it).
                    _, env._now, event = soon.popleft()
            elif queue:
                env._now, _, _, event = pop(queue)
            else:
                break
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                try:
                    callback(event)
                except StopSimulation:  # as step: the rest of its callbacks run if the loop resumes
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    env.schedule(event, simpy.core.EventPriority(-1))
                    raise
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
    except StopSimulation as stop:
        return stop.args[0]  # == until.value
    raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}')


def executed_schedule(trace: Trace, name: str = "twin") -> Schedule:
    """What a replication actually did, as a Schedule (integer seconds, as plans are)."""
    if trace.executed is None:
        raise ValueError("the replication was run without record=True")
    assignments = [Assignment(job, op, cell, int(round(start)), int(round(end))) for job, op, cell, start, end in trace.executed]
    return Schedule(assignments, horizon=int(math.ceil(trace.end_s)), status="simulated", name=name)


def delivered_by_horizon(plan: ControlPlan, finished_at: dict[int, float]) -> dict:
    """MW per category of the plan's units finished by its horizon (what the plan promised
    counts the same way), and when the last one finished."""
    mw = {cat: 0.0 for cat in plan.job_category}
    for j, at in finished_at.items():
        if at <= plan.horizon + 1e-6:
            mw[plan.job_category[j]] += plan.job_mw[j]
    return {"delivered_mw_by_category": mw, "last_finish_s": max(finished_at.values(), default=0.0)}
