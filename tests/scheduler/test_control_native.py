"""The compiled floor controller (scheduler.control.native): it takes the pure Python's
decisions, and it is loaded only when built from the source there now; otherwise the pure
Python runs and the status says why."""
from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest

import tests.scheduler.test_control as hand
from plant.demand import orders_for
from scheduler.construct import list_schedule
from scheduler.control import Ready, control_plan, native
from scheduler.problem import build_problem

H = 3600


def pure_module():
    """The controller from its source, under a name of its own (beside the compiled one, if that runs)."""
    spec = importlib.util.spec_from_file_location("gwf_pure_controller", native.SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PURE = pure_module()


@pytest.fixture(scope="module")
def compiled():
    """The compiled controller module (run here, or loaded beside the pure one); skipped, with
    why, when there is no build of this source."""
    module = native.compiled_module()
    if module is None:
        why = f"the compiled controller is not built from this source: {native.why_pure(native.OUT, native.SOURCE)}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # make builds it before the suite: on CI a missing build is a failure
            pytest.fail(why)
        pytest.skip(why)
    assert not module.__file__.endswith(".py")
    return module


def fake_build(out: Path, digest: str) -> Path:
    """A build directory as build() leaves it, the modules empty files, made from `digest`."""
    out.mkdir()
    native.module_path(out).write_bytes(b"")
    native.module_path(out, native.LIBRARY).write_bytes(b"")
    (out / native.HASH_FILE).write_text(digest + "\n")
    return out


def test_a_build_of_other_source_is_stale(tmp_path, monkeypatch):
    monkeypatch.delenv("GWF_PURE", raising=False)
    source = tmp_path / "controller.py"
    source.write_text("x = 1\n")
    fitting = fake_build(tmp_path / "fits", native.source_hash(source))
    assert native.why_pure(fitting, source) is None
    source.write_text("x = 2\n")  # edited since the build
    assert native.why_pure(fitting, source) == "pure: source changed since build"
    assert native.why_pure(tmp_path / "none", source).startswith("pure: not built")
    native.module_path(fitting, native.LIBRARY).unlink()  # half a build is none
    assert native.why_pure(fitting, source).startswith("pure: not built")


def test_gwf_pure_forces_the_pure_python(tmp_path, monkeypatch):
    source = tmp_path / "controller.py"
    source.write_text("x = 1\n")
    fitting = fake_build(tmp_path / "fits", native.source_hash(source))
    monkeypatch.setenv("GWF_PURE", "1")
    assert native.why_pure(fitting, source) == "pure: GWF_PURE=1"


def test_a_stale_build_is_not_loaded(tmp_path, monkeypatch):
    """load() with a build of other source leaves the import to the source, and says why."""
    monkeypatch.delenv("GWF_PURE", raising=False)
    stale = fake_build(tmp_path / "stale", "0" * 64)
    monkeypatch.setattr(native, "OUT", stale)
    monkeypatch.setattr(native, "_status", "pure: not loaded yet")
    monkeypatch.delitem(sys.modules, native.MODULE)  # restored after the test
    native.load()
    assert native.MODULE not in sys.modules
    assert native.status() == "pure: source changed since build"


def test_the_status_names_which_controller_runs():
    from scheduler.control import FloorController

    status = native.status()
    assert status == "compiled" or status.startswith("pure: ")
    assert FloorController.__module__ == native.MODULE
    assert (status == "compiled") == (not sys.modules[native.MODULE].__file__.endswith(".py"))


def test_a_failed_build_leaves_the_pure_python(tmp_path, monkeypatch, capsys):
    """No compiler (here: no mypyc in the Python that builds): one line, no exception, nothing built."""
    monkeypatch.setattr(native, "_BUILD", "raise SystemExit('mypyc: not installed')")
    assert native.build(tmp_path / "out") is False
    assert "not compiled" in capsys.readouterr().out
    assert native.built_hash(tmp_path / "out") is None


def rows(ctrl) -> list[tuple]:
    return [row[:5] + (hand_detail(row[5]),) for row in ctrl.log.rows]


def hand_detail(detail):
    """A decision's detail without its CPU timings (not decisions)."""
    return {k: v for k, v in detail.items() if "cpu" not in k} if isinstance(detail, dict) else detail


@pytest.mark.parametrize("policy", ["blind", "repair", "replan"])
@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_and_pure_decide_alike_on_random_floors(compiled, policy, seed, monkeypatch):
    """The random host of test_control (stops, failed checks, random durations) with each controller."""
    spec = hand.loop_floor()
    schedule = list_schedule(build_problem(spec, orders_for(spec, 24), 24 * H))
    logs = []
    for module in (PURE, compiled):
        config = module.ControlConfig.policy(policy, move_threshold_s=H, replan_every_s=3 * H if policy == "replan" else None)
        monkeypatch.setattr(hand, "FloorController", module.FloorController)
        plan, ctrl, done = hand.random_host(spec, schedule, config, seed)
        assert type(ctrl).__module__ == module.__name__
        assert done == set(range(plan.n_tasks))
        logs.append(rows(ctrl))
    assert logs[0] == logs[1] and len(logs[0]) > 40


def test_compiled_and_pure_decide_alike_on_a_hand_made_floor(compiled):
    """Three builds queued on one arm (the twin arm free): the same starts, moves and wake-ups."""
    spec = hand.floor_spec()
    plan = control_plan(spec, hand.sequence_plan(spec, 3))
    out = []
    for module in (PURE, compiled):
        ctrl = module.FloorController(plan, module.ControlConfig.policy("repair", early_s=0.0))
        seen = [ctrl.handle_rows(Ready(0, plan.task_of(f"rack#{k:05d}", "build"))) for k in (1, 2, 3)]
        seen.append(ctrl.on_completed(H, plan.task_of("rack#00001", "build"), 0))
        out.append((seen, ctrl.next_wake, ctrl.summary()))
    assert out[0] == out[1]
    assert [type(rows[0][0]) for rows in out[1][0] if rows] == [type(rows[0][0]) for rows in out[0][0] if rows], \
        "a decision's time keeps the host's type (the int 0 stays an int)"


@pytest.mark.parametrize("control", ["repair", "replan"])
def test_compiled_and_pure_run_the_twin_alike(compiled, control, monkeypatch):
    """A day of the loop floor through the twin (SimPy, breakdowns, rework): the same operations
    executed and the same decisions."""
    from sim import execution, replication

    spec = hand.loop_floor()
    schedule = list_schedule(build_problem(spec, orders_for(spec, 24), 24 * H))
    record, logs, executed = execution.ControlBridge.record, [], []
    monkeypatch.setattr(execution.ControlBridge, "record", lambda bridge: (logs.append(rows(bridge.ctrl)), record(bridge))[1])
    for module in (PURE, compiled):
        monkeypatch.setattr(replication, "FloorController", module.FloorController)
        monkeypatch.setattr(replication, "ControlConfig", module.ControlConfig)
        config = replication.RunConfig(spec, end_s=4 * schedule.makespan, bin_s=600.0, seed=random.Random(control).randrange(99),
                                       schedule=schedule, control=control, record=True)
        executed.append(replication.run_replication(config, 0).executed)
    assert executed[0] == executed[1] and len(executed[0]) > 0
    assert logs[0] == logs[1] and len(logs[0]) > 0


def test_compiled_summary_counts_as_the_pure(compiled):
    """The summary's count of the log's (kind, reason) pairs, compiled (a vec of counts), with and
    without a reason that comes with a second kind."""
    rows = [(0, "start", f"plan: {k % 7}", k, k % 5, None) for k in range(1000)] + [(1, "move", "help: x", 1, 2, None)] * 300
    assert compiled._pair_counts(rows) == PURE._pair_counts(rows) and compiled._pair_counts(rows)[0][1] == 143
    rows.append((2, "start", "help: x", 3, 4, None))
    assert compiled._pair_counts(rows) == PURE._pair_counts(rows)
