"""The floor schedules its events into SimPy's queue by hand and reads events' state directly
(sim/floor.py: env._queue, env._eid, env._now, Event._ok/_value, simpy.events.NORMAL), as
SimPy 4.1 lays them out (pyproject pins simpy to 4.1.x). If a SimPy release moves them, this
fails by name, before any twin result quietly changes."""
import heapq
from types import SimpleNamespace

import simpy

from sim.entities import CellRun
from sim.floor import _at, _Trip


def test_the_simpy_internals_the_floor_uses_are_there():
    env = simpy.Environment()
    for name in ("_queue", "_eid", "_now"):
        assert hasattr(env, name), f"simpy {simpy.__version__}: Environment.{name} is gone (sim/floor.py uses it)"
    assert isinstance(env._queue, list) and isinstance(env._now, (int, float))
    assert isinstance(simpy.events.NORMAL, int) and simpy.events.NORMAL > simpy.events.URGENT
    ev = env.event()
    ev.succeed("v")
    for name in ("_ok", "_value", "callbacks"):
        assert hasattr(ev, name), f"simpy {simpy.__version__}: Event.{name} is gone (sim/floor.py uses it)"
    assert ev._ok is True and ev._value == "v"
    env.run()
    assert ev.callbacks is None  # processed: what the floor checks before waiting on an event


def test_events_pushed_by_hand_run_in_turn_with_simpys_own():
    """A hand-pushed entry (time, NORMAL, next eid, event) runs at its time, after the events
    scheduled before it at that time and before those scheduled after: as env.schedule does."""
    env = simpy.Environment()
    seen = []
    env.timeout(1.0).callbacks.append(lambda e: seen.append(("timeout", env.now)))
    _at(env, 1.0).callbacks.append(lambda e: seen.append(("at", env.now, e._value)))
    trip = _Trip()  # an AGV trip, pushed as Floor._send does
    trip.callbacks, trip._ok = [lambda e: seen.append(("call", env.now))], True
    heapq.heappush(env._queue, (env._now + 1.0, simpy.events.NORMAL, next(env._eid), trip))
    ev = simpy.Event(env)
    ev._ok, ev._value = True, "handed"
    ev.callbacks.append(lambda e: seen.append(("hand", env.now, e._value)))
    heapq.heappush(env._queue, (env._now + 1.0, simpy.events.NORMAL, next(env._eid), ev))
    cell = CellRun("c", SimpleNamespace(defn=SimpleNamespace(capacity=1, setup=0.0)), 0)  # a plan's cell: its own event
    cell.callbacks = [lambda e: seen.append(("cell", env.now, e is cell))]
    heapq.heappush(env._queue, (env._now + 1.0, simpy.events.NORMAL, next(env._eid), cell))
    env.timeout(1.0).callbacks.append(lambda e: seen.append(("later", env.now)))
    env.run()
    assert seen == [("timeout", 1.0), ("at", 1.0, None), ("call", 1.0), ("hand", 1.0, "handed"), ("cell", 1.0, True),
                    ("later", 1.0)]
    assert cell.callbacks is None  # processed, as SimPy marks an event: free to be pushed again
    assert env._now == env.now == 1.0
