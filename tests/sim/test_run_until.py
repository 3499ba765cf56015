"""sim.replication.run_until is SimPy's Environment.run with its step inline: the same events in
the same order, the same stop, the same crash on a failed event nobody defused."""
import pytest
import simpy

from sim.replication import run_until


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


STOPS = {
    "event": lambda env, done: done,
    "time": lambda env, done: 6.0,  # between events: stops before the timeouts due then
    "any": lambda env, done: simpy.events.AnyOf(env, [done, env.timeout(100.0)]),  # as a plan run stops
}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_the_same_steps_as_simpy(stop):
    runs = []
    for run in (lambda env, until: env.run(until=until), run_until):
        env, seen = simpy.Environment(), []
        done = _model(env, seen)
        run(env, STOPS[stop](env, done))
        runs.append((seen, env.now, sorted((t, p, e) for t, p, e, _ in env._queue)))
    assert runs[0] == runs[1]
    assert runs[0][0] and runs[0][2]  # something ran, something was left


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
