"""sim.replication.run_until is SimPy's Environment.run with its step inline: the same events in
the same order, the same stop, the same crash on a failed event nobody defused."""
import heapq
import random

import pytest
import simpy

from sim.replication import FloorEnvironment, run_until


def _model(env: simpy.Environment, seen: list) -> simpy.Event:
    """Processes, timeouts at equal times, an urgent event, callbacks on plain events; returns
    an event that fires midway."""
    done = env.event()

    def worker(name: str, delays: list[float]):
        for d in delays:
            yield env.timeout(d)
            seen.append((env.now, name))
            if env.now == 5.0 and name == "a":
                done.succeed("half")

    env.process(worker("a", [1.0, 2.0, 2.0, 3.0, 1.0]))
    env.process(worker("b", [1.0, 4.0, 0.0, 4.0]))
    env.process(worker("c", [3.0, 2.0, 2.0]))
    for t in (2.0, 5.0, 5.0):
        env.timeout(t).callbacks.append(lambda ev, t=t: seen.append((env.now, f"cb{t}")))
    return done


def _plain(value):
    """A run's return value without object addresses: a condition's as its values."""
    return sorted(map(repr, value.todict().values())) if isinstance(value, simpy.events.ConditionValue) else repr(value)


STOPS = {
    "event": lambda env, done: done,
    "time": lambda env, done: 6.0,  # between events: stops before the timeouts due then
    "int time": lambda env, done: 6,  # SimPy keeps a whole-number until an int (env.now)
    "any": lambda env, done: simpy.events.AnyOf(env, [done, env.timeout(100.0)]),  # as a plan run stops
}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_the_same_steps_as_simpy(stop):
    runs = []
    for run in (lambda env, until: env.run(until=until), run_until):
        env, seen = simpy.Environment(), []
        done = _model(env, seen)
        value = run(env, STOPS[stop](env, done))
        runs.append((seen, env.now, type(env.now), _plain(value), sorted((t, p, e) for t, p, e, _ in env._queue)))
    assert runs[0] == runs[1]
    assert runs[0][0] and runs[0][4]  # something ran, something was left


def test_a_failed_event_crashes_the_run_as_simpy_does():
    env = simpy.Environment()
    env.timeout(1.0).callbacks.append(lambda ev: env.event().fail(ValueError("broken")))
    with pytest.raises(ValueError, match="broken"):
        run_until(env, 10.0)


def test_running_out_of_events_before_the_until_event_is_an_error():
    env = simpy.Environment()
    env.timeout(1.0)
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        run_until(env, env.event())


def test_until_a_time_in_the_past_is_refused():
    env = simpy.Environment()
    env.run(until=2.0)
    with pytest.raises(ValueError, match="must be greater"):
        run_until(env, 1.0)


def _handing_model(env: simpy.Environment, seen: list, schedule_now) -> None:
    """Events due now (`schedule_now`, as PlanCells.hand schedules a cell's start) among SimPy's
    own at the same instants: zero timeouts, urgent process starts, succeed(), and a handed
    event's callback that hands another."""

    def mark(name):
        return lambda ev: seen.append((env.now, name))

    def hand(name, then=None):
        ev = simpy.Event(env)
        ev._ok, ev._value = True, None
        ev.callbacks.append(mark(name))
        if then is not None:
            ev.callbacks.append(lambda _: then())
        schedule_now(env, ev)

    def child(name):
        seen.append((env.now, f"{name} child starts"))  # an Initialize: urgent, before the handed events
        yield env.timeout(0)
        seen.append((env.now, f"{name} child after zero"))

    def worker(name, delays):
        for d in delays:
            yield env.timeout(d)
            hand(f"{name} handed", then=lambda: hand(f"{name} handed again"))
            env.timeout(0).callbacks.append(mark(f"{name} zero"))
            env.process(child(name))
            done = env.event()
            done.callbacks.append(mark(f"{name} succeeded"))
            done.succeed()
            hand(f"{name} handed second")

    for name, delays in (("a", [1.0, 1.0, 0.0, 2.0]), ("b", [2.0, 0.0, 1.0]), ("c", [1.0, 3.0])):
        env.process(worker(name, delays))


def _into_heap(env, ev):  # what SimPy's schedule(ev) does, and what hand does on a plain Environment
    heapq.heappush(env._queue, (env._now, simpy.events.NORMAL, next(env._eid), ev))


@pytest.mark.parametrize("stop", [None, 3.0, 3])
def test_events_due_now_in_a_floor_environment_run_in_simpys_order(stop):
    """A FloorEnvironment's second queue (events due now) changes no order: the same steps as one
    SimPy heap, run by SimPy's own run (step and peek) or by run_until."""
    runs = []
    for env, run, now in ((simpy.Environment(), lambda env: env.run(until=stop), _into_heap),
                          (FloorEnvironment(), lambda env: env.run(until=stop), FloorEnvironment.schedule_now),
                          (FloorEnvironment(), lambda env: run_until(env, stop) if stop is not None else _run_all(env),
                           FloorEnvironment.schedule_now)):
        seen = []
        _handing_model(env, seen, now)
        run(env)
        runs.append((seen, env.now, type(env.now)))
    assert runs[0] == runs[1] == runs[2]
    assert sum(1 for _, name in runs[0][0] if "handed" in name) >= 8


def _run_all(env):
    with pytest.raises(RuntimeError, match="No scheduled events left"):  # every event ran
        run_until(env, env.event())


def test_peek_sees_the_events_due_now():
    env = FloorEnvironment()
    env.run(until=2.0)
    ev = simpy.Event(env)
    ev._ok, ev._value = True, None
    env.schedule_now(ev)
    assert env.peek() == 2.0 and not env.soon
    assert [(t, p) for t, p, _, e in env._queue if e is ev] == [(2.0, simpy.events.NORMAL)]


def _random_model(env: simpy.Environment, seen: list, seed: int, now) -> None:
    """Random work at shared instants: events due now (`now`: schedule_now, or the same into
    SimPy's heap), zero and later timeouts, urgent events, process starts, succeed(), events
    pushed at now or later by hand; some of their callbacks make more. `seen` gets (repr of
    env.now, name) per callback, so an int time that became a float (or back) shows too."""
    rng = random.Random(seed)
    count = [0]

    def mark(name):
        return lambda ev: seen.append((repr(env.now), name))

    def ready_event(name, depth, p_more):
        ev = simpy.Event(env)
        ev._ok, ev._value = True, None
        ev.callbacks.append(mark(name))
        if depth < 3 and rng.random() < p_more:
            ev.callbacks.append(lambda _, d=depth, n=name: act(n, d + 1))
        return ev

    def child(name, depth):
        seen.append((repr(env.now), f"{name} starts"))
        yield env.timeout(0)
        seen.append((repr(env.now), f"{name} after zero"))
        if depth < 3:
            act(name, depth + 1)

    def act(tag, depth):
        count[0] += 1
        name, r = f"{tag}.{count[0]}", rng.random()
        if r < 0.3:
            now(env, ready_event(f"hand {name}", depth, 0.5))
        elif r < 0.45:
            t = env.timeout(rng.choice([0, 0, 1, 0.5]))
            t.callbacks.append(mark(f"timeout {name}"))
            if depth < 3 and rng.random() < 0.4:
                t.callbacks.append(lambda _, d=depth: act(name, d + 1))
        elif r < 0.6:
            env.process(child(f"child {name}", depth))
        elif r < 0.75:
            ev = env.event()
            ev.callbacks.append(mark(f"succeed {name}"))
            ev.succeed()
        elif r < 0.85:
            env.schedule(ready_event(f"urgent {name}", depth, 0.5), simpy.events.URGENT, rng.choice([0, 0, 1]))
        else:
            ev = ready_event(f"pushed {name}", depth, 0.0)
            heapq.heappush(env._queue, (env._now + rng.choice([0, 1, 0.5]), simpy.events.NORMAL, next(env._eid), ev))

    def worker(k):
        for _ in range(rng.randint(1, 6)):
            yield env.timeout(rng.choice([0, 0.5, 1, 1, 2]))
            for _ in range(rng.randint(1, 5)):
                act(f"w{k}", 0)

    for k in range(rng.randint(1, 4)):
        env.process(worker(k))


def _run_in_pieces(env, seed: int) -> list:
    """Run to random stops (times or timeouts) and resume, by run_until, SimPy's run or step by
    step (a stop may leave events due now queued), then to the end."""
    rng = random.Random(seed * 7 + 1)
    out = []
    for stop in sorted({rng.choice([0.5, 1, 1, 2, 2, 3, 4, 5.5, 6]) for _ in range(rng.randint(0, 4))}) + [None]:
        how, by_event = rng.choice(["run_until", "run", "step"]), rng.random() < 0.5
        if stop is None:
            if how == "run_until":
                with pytest.raises(RuntimeError, match="No scheduled events left"):
                    run_until(env, env.event())
            else:
                env.run()
        elif stop > env.now:
            until = env.timeout(stop - env.now) if by_event else stop
            if how == "run_until":
                run_until(env, until)
            elif how == "run":
                env.run(until=until)
            else:
                while env.peek() < stop:
                    env.step()
        out.append((stop, repr(env.now)))
    return out


@pytest.mark.parametrize("block", range(6))
def test_random_models_run_in_pieces_as_one_simpy_heap(block):
    """Random models, run in pieces: a FloorEnvironment (events due now in `soon`, run by
    run_until, SimPy's run or step) runs every callback at the same time, with the same type of
    time, in the same order as a plain SimPy environment run the same way."""
    for seed in range(block * 50, block * 50 + 50):
        runs = []
        for env, now in ((simpy.Environment(), _into_heap), (FloorEnvironment(), FloorEnvironment.schedule_now)):
            seen: list = []
            _random_model(env, seen, seed, now)
            runs.append((seen, _run_in_pieces(env, seed)))
        assert runs[0] == runs[1], f"seed {seed}"
        assert len(runs[0][0]) > 0
