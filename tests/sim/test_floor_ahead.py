"""An operation worked out ahead (changeover, windows and failures computed when it starts, one
SimPy wait) runs exactly as the step-by-step way (a wait per chunk): the same executed
schedule to the last bit, the same controller decisions, and the same time in every state."""
from pathlib import Path

import numpy as np
import pytest

from plant import load_spec
from plant.loader import spec_from_dict
from scheduler.control import FloorController
from sim import floor as floor_module
from sim.floor import Floor
from sim.replication import RunConfig, run_replication
from twin_cases import mini_floor

LOOP = Path(__file__).resolve().parents[2] / "tests" / "specs" / "loop.yaml"


def _runs(monkeypatch, config: RunConfig) -> tuple[dict, object, object]:
    """(calls of the ahead path by kind, the run worked out ahead, the same run step by step)."""
    calls = {"operation": 0, "told": 0, "long_stop": 0}
    work_out, long_stop, told, init = Floor._work_out, Floor._long_stop, Floor._told, Floor.__init__
    logs: list = []
    handle = FloorController.handle

    def counted_work_out(self, *args):
        calls["operation"] += 1
        return work_out(self, *args)

    def counted_long_stop(self, *args):
        calls["long_stop"] += 1
        return long_stop(self, *args)

    def counted_told(self, cell):
        calls["told"] += len(cell.log)
        told(self, cell)

    def logged(self, event):
        out = handle(self, event)
        logs.append([(d.time, d.kind, d.reason, d.task, d.cell) for d in out])
        return out

    monkeypatch.setattr(FloorController, "handle", logged)
    with monkeypatch.context() as m:
        m.setattr(Floor, "_work_out", counted_work_out)
        m.setattr(Floor, "_long_stop", counted_long_stop)
        m.setattr(Floor, "_told", counted_told)
        ahead = run_replication(config, 0)
    ahead_log, logs[:] = list(logs), []
    def step_by_step(self, *args, **kwargs):
        init(self, *args, **kwargs)
        for cell in self.cells.values():
            cell.ahead = False

    with monkeypatch.context() as m:  # the step-by-step way for every operation
        m.setattr(Floor, "__init__", step_by_step)
        m.setattr(Floor, "_work_out", None)  # never reached
        step = run_replication(config, 0)
    assert ahead_log == logs
    return calls, ahead, step


def _same(ahead, step) -> None:
    assert ahead.executed == step.executed  # floats compared exactly
    assert ahead.end_s == step.end_s
    # The observer hears of states worked out ahead later, so bins add in another order. At
    # the run's end the ahead way also counts a repair under way as down (step by step, a
    # repair is told when it ends), so the last bin only keeps its total per station.
    np.testing.assert_allclose(ahead.state_time[:-1], step.state_time[:-1], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(ahead.state_time[-1].sum(axis=-1), step.state_time[-1].sum(axis=-1), rtol=1e-9)
    assert (ahead.state_time[-1, :, 5] >= step.state_time[-1, :, 5] - 1e-6).all()
    np.testing.assert_allclose(ahead.start_delays, step.start_delays, rtol=1e-12)
    assert ahead.wait_n.sum() == step.wait_n.sum()


def test_dispatch_floor_with_setups_windows_failures_and_bays(monkeypatch):
    spec = mini_floor()
    config = RunConfig(spec, end_s=3 * 86400, bin_s=3 * 86400 / 50, seed=5, policy="edd", record=True)
    calls, ahead, step = _runs(monkeypatch, config)
    assert calls["operation"] > 100 and calls["told"] > 100  # the ahead path ran, with windows or failures inside
    _same(ahead, step)
    assert ahead.state_time[..., 6].sum() > 0  # time in planned windows (off) was counted


def test_executed_plan_with_long_stops_the_controller_hears_of(monkeypatch, tmp_path):
    import yaml

    from gwf.commands.schedule import plan_floor

    raw = load_spec(str(LOOP)).model_dump(mode="json", exclude_none=True)
    for t in raw["cell_types"]:
        if t["name"] in ("arm", "tester"):
            t["unavailable"] = [{"start": "5h", "duration": "40m", "every": "11h"}]
            t["mttr"] = "100m"  # a repair of 2 h or more (the controller's threshold) now and then
    spec = spec_from_dict(raw, "loop with windows")
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(raw))
    schedule = plan_floor(str(path), 86400, 24, time_limit=2, workers=1, seed=0)["schedule"]
    for control in ("blind", "repair"):
        config = RunConfig(spec, end_s=8 * 86400, bin_s=8 * 86400 / 40, seed=3, schedule=schedule, control=control, record=True)
        calls, ahead, step = _runs(monkeypatch, config)
        assert calls["operation"] > 10, calls
        if control == "repair":
            assert calls["long_stop"] > 0, calls  # the controller was told of stops as they began
        _same(ahead, step)
        assert ahead.control["decisions"] == step.control["decisions"]


def test_an_event_at_an_absolute_time_lands_on_it():
    import simpy

    env = simpy.Environment()
    now, at = 8.941970981892155, 31589.432858709664
    env.run(until=now)
    assert now + (at - now) != at  # a timeout of (at - now) would miss it by a bit
    seen = []
    floor_module._at(env, at).callbacks.append(lambda ev: seen.append(env.now))
    env.run()
    assert seen == [at]


def test_the_slots_of_a_bay_each_read_the_same_windows_on_their_own():
    # A bay's slots work their operations out ahead, each reading the bay's calendar past
    # windows the others have still to see: each reads through its own copy of the windows.
    import simpy

    from sim.layout import compile_layout
    from sim.observer import Observer
    from sim.streams import Stream, stream_seed

    spec = mini_floor()
    layout = compile_layout(spec)
    env = simpy.Environment()
    observer = Observer(env, 86400.0, 3600.0, [s.slots for s in layout.stations], len(layout.products))
    floor = Floor(env, layout, observer, lambda source: Stream(stream_seed(0, 0, source)))
    bay = next(st for st in floor.stations if st.defn.capacity > 1 and st.defn.mttf is not None)
    first, second = [c for c in floor.cells.values() if c.station is bay][:2]
    assert first.calendar is not second.calendar

    def blocks(calendar, until: float) -> list:
        out, t = [], 0.0
        while True:
            start, end, kind = calendar.block(t)
            if start >= until:
                return out
            out.append((start, end, kind))
            t = end

    years = 5 * 365 * 86400.0  # a bay fails every ~2,000 h of the wall clock
    ahead = blocks(first.calendar, years)  # one slot reads years ahead first
    assert len(ahead) >= 5 and all(kind == "down" for _, _, kind in ahead)
    assert blocks(second.calendar, years) == ahead  # the other still sees every window from time 0
