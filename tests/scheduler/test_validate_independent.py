"""The re-plan's check stays an independent validator: scheduler.validate and
scheduler.validatejit read nothing of what builds the plan (the cells' windows, the grouping by
cell), so a bug in the builder is refused, not shared; the compiled check is never handed an index
out of range (numba reads memory unchecked: a crash, not a verdict) nor does it wrap near 2**63."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scheduler.problem import Cell, Job, Pool, Problem, Task
from scheduler.validate import Columns, InvalidSchedule, placed_violations, validate_arrays

ROOT = Path(__file__).resolve().parents[2]
H = 3600


def _scheduler_imports(path: Path) -> set[str]:
    """Every scheduler.* module `path` imports, at any level (function-local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "scheduler":
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "scheduler")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "scheduler")
    return found


def test_the_check_imports_only_the_problem_and_the_schedule():
    allowed = {"scheduler.problem", "scheduler.schedule", "scheduler.validatejit"}  # validatejit: the check's own compiled half
    for name in ("validate.py", "validatejit.py"):
        imported = _scheduler_imports(ROOT / "scheduler" / name)
        assert imported <= allowed, f"scheduler/{name} imports {sorted(imported - allowed)}: the check must not share the builder's helpers"
    assert "scheduler.problem" in _scheduler_imports(ROOT / "scheduler" / "validate.py")  # the parse sees imports at all


def test_a_window_the_builder_loses_is_refused(monkeypatch):
    """The reviewer's injection: calendars.flat_windows (what the list scheduler's lanes read)
    drops each cell's last window. The re-plans that then put work into a window are refused by
    the check (the controller logs them as failed), as the Python check refuses them."""
    from plant import load_spec
    from plant.demand import orders_for
    from scheduler import calendars, construct, subproblem, validate
    from scheduler.construct import list_schedule
    from scheduler.control import ControlConfig, snapshot
    from scheduler.problem import build_problem
    from scheduler.validate import columns_violations
    from tests.scheduler import test_control as hand

    spec = load_spec(str(ROOT / "tests" / "specs" / "pipeline.yaml"))  # cells with windows
    problem = build_problem(spec, orders_for(spec, 96), 96 * H)
    schedule = list_schedule(problem, rule="fifo")  # the plan made right; its re-plans with the bug
    real_flat = calendars.flat_windows

    def loses_the_last(cells, merged=False):
        return real_flat([Cell(c.id, c.pool, c.capacity, c.setup, c.unavailable[:-1]) for c in cells], merged)

    for module in (calendars, construct, subproblem, snapshot, validate):  # wherever it was imported (the check: nowhere)
        monkeypatch.setattr(module, "flat_windows", loses_the_last, raising=module is not validate)
    real_check = snapshot.validate_arrays
    tally = {"wrong": 0, "refused": 0, "replans": 0}

    def check(columns, cell, start, end, *rest, **pins):
        tally["replans"] += 1
        wrong = columns_violations(columns(), [(c, s, e) if c >= 0 else None for c, s, e in zip(cell.tolist(), start.tolist(), end.tolist())])
        tally["wrong"] += bool(wrong)
        try:
            real_check(columns, cell, start, end, *rest, **pins)
        except InvalidSchedule as refused:
            assert refused.violations == wrong
            tally["refused"] += 1
            raise
        assert not wrong, wrong

    monkeypatch.setattr(snapshot, "validate_arrays", check)
    config = ControlConfig.policy("replan", move_threshold_s=H, replan_every_s=H, replan_gain_s=0.0)
    hand.random_host(spec, schedule, config, 6, early_s=1200)
    assert tally["wrong"] > 0 and tally["refused"] == tally["wrong"], tally


def _floor(cells, jobs, tasks, horizon=10**6) -> Problem:
    for i, t in enumerate(tasks):
        jobs[t.job].tasks.append(i)
    pools = sorted({c.pool for c in cells})
    return Problem(cells, [Pool(f"p{p}", [i for i, c in enumerate(cells) if c.pool == p]) for p in pools], jobs, tasks, horizon)


def _arrays(problem, placed):
    from scheduler.construct import mode_runs, pred_runs  # the test's own arrays of the problem

    m_start, m_len, modes = mode_runs([t.modes for t in problem.tasks])
    p_ptr, p_idx = pred_runs([t.predecessors for t in problem.tasks])
    codes: dict = {}
    return [np.array([p[0] for p in placed], np.int64), np.array([p[1] for p in placed], np.int64), np.array([p[2] for p in placed], np.int64),
            m_start, m_len, modes[:, 0].astype(np.int64), modes[:, 1].astype(np.int64), p_ptr, p_idx,
            np.array([t.job for t in problem.tasks], np.int64), np.array([t.release for t in problem.tasks], np.int64),
            np.array([j.release for j in problem.jobs], np.int64), np.array([codes.setdefault(j.family, len(codes)) for j in problem.jobs], np.int64),
            problem.cells]


def _judged(problem, placed, arrays=None) -> list[str]:
    try:
        validate_arrays(lambda: Columns.of(problem), *(arrays or _arrays(problem, placed)))
    except InvalidSchedule as refused:
        return refused.violations
    return []


def _two_in_a_row() -> Problem:
    return _floor([Cell("A", 0, 2, 0, [])], [Job("j0")], [Task(0, "a", [(0, 10)], []), Task(0, "b", [(0, 10)], [0])])


# (field, index in the argument list, value): each out of its range by far (a read there segfaulted).
BAD = [("p_idx", 8, [5_000_000]), ("p_idx", 8, [-3]), ("task_job", 9, [0, 7_000_000]), ("m_start", 3, [0, 9_000_000]), ("m_len", 4, [1, 2]),
       ("p_ptr", 7, [0, 0, 4_000_000])]


@pytest.mark.parametrize("field, at, value", BAD, ids=[f"{f}={v}" for f, _, v in BAD])
def test_an_index_out_of_range_is_a_value_error_naming_it(field, at, value):
    problem = _two_in_a_row()
    arrays = _arrays(problem, [(0, 0, 10), (0, 10, 20)])
    assert _judged(problem, None, arrays) == []
    arrays[at] = np.array(value, np.int64)
    with pytest.raises(ValueError, match=rf"validate_arrays: {field}\["):
        _judged(problem, None, arrays)


def test_an_index_out_of_range_does_not_crash_the_process():
    """The reviewer's case in a process of its own: a predecessor index far out of range ends in
    a ValueError, not a segfault (exit 139)."""
    script = textwrap.dedent("""
        import numpy as np
        from tests.scheduler.test_validate_independent import _arrays, _judged, _two_in_a_row
        problem = _two_in_a_row()
        arrays = _arrays(problem, [(0, 0, 10), (0, 10, 20)])
        arrays[8] = np.array([5_000_000], np.int64)
        try:
            _judged(problem, None, arrays)
        except ValueError as refused:
            print("refused:", refused)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: validate_arrays: p_idx[0] = 5000000 (task 1)" in done.stdout


BIG = 2**63 - 1


def test_a_setup_owed_near_int64_s_top_is_refused():
    """end + setup would wrap past 2**63: the check compares start - setup with end instead."""
    problem = _floor([Cell("A", 0, 1, 10, [])], [Job("j0", family="x"), Job("j1", family="y")],
                     [Task(0, "a", [(0, BIG - 15)], []), Task(1, "a", [(0, 1)], [])], horizon=BIG)
    short = [(0, 0, BIG - 15), (0, BIG - 14, BIG - 13)]  # 1 s after, 10 s owed
    assert placed_violations(problem, short) == ["A: j1/a leaves less than the 10s setup after j0/a"]
    assert _judged(problem, short) == placed_violations(problem, short)
    assert _judged(problem, [(0, 0, BIG - 15), (0, BIG - 5, BIG - 4)]) == []  # the setup kept


@pytest.mark.parametrize("window", [(100, 200.5), (99.5, 200), (100, 2**64)])
def test_a_window_not_in_whole_int64_seconds_is_read_as_given(window):
    """The check reads such a window as the Python check does (not truncated to an int64)."""
    problem = _floor([Cell("A", 0, 1, 0, [window])], [Job("j0")], [Task(0, "a", [(0, 10)], [])])
    for placed in ([(0, 200, 210)], [(0, 90, 100)], [(0, 300, 310)]):
        assert _judged(problem, placed) == placed_violations(problem, placed)
    assert _judged(problem, [(0, 200, 210)] if window[1] != 200 else [(0, 90, 100)])


def test_zero_length_work_on_a_cell_of_no_capacity_holds_no_place():
    problem = _floor([Cell("A", 0, 0, 0, [])], [Job("j0")], [Task(0, "a", [(0, 0)], [])])
    assert _judged(problem, [(0, 5, 5)]) == placed_violations(problem, [(0, 5, 5)]) == []


def test_a_start_before_time_0_alone_is_refused():
    """The `s < 0` rule on its own: the plan is right in every other way (no release, no
    predecessor, no window, the duration kept)."""
    problem = _floor([Cell("A", 0, 1, 0, [])], [Job("j0", release=-100)], [Task(0, "a", [(0, 10)], [], release=-100)])
    assert _judged(problem, [(0, 0, 10)]) == []
    assert _judged(problem, [(0, -5, 5)]) == ["j0/a: starts before time 0"]


def _pipeline_run(monkeypatch, seed: int, hours: int = 48):
    """A random host on the pipeline floor (windows, setups, bays) re-planning every hour."""
    from plant import load_spec
    from plant.demand import orders_for
    from scheduler.construct import list_schedule
    from scheduler.control import ControlConfig
    from scheduler.problem import build_problem
    from tests.scheduler import test_control as hand

    spec = load_spec(str(ROOT / "tests" / "specs" / "pipeline.yaml"))
    problem = build_problem(spec, orders_for(spec, hours), hours * H)
    config = ControlConfig.policy("replan", move_threshold_s=H, replan_every_s=H, replan_gain_s=0.0)
    from scheduler.control import snapshot

    real = snapshot.replan

    class Finished(Exception):
        pass

    def until_done(ctrl):
        if all(status == 2 for status in ctrl.status):  # DONE: the host would re-plan an empty floor on
            raise Finished
        return real(ctrl)

    monkeypatch.setattr(snapshot, "replan", until_done)
    try:
        hand.random_host(spec, list_schedule(problem, rule="slack"), config, seed, early_s=600)
    except Finished:
        pass


def test_durations_the_builder_gets_wrong_are_refused(monkeypatch):
    """The reviewer's inject_build: window_build halves every duration it hands the list
    scheduler. The check reads the plan's own modes, so every re-plan placing such work is refused."""
    from scheduler import windowjit
    from scheduler.control import snapshot

    real_build = windowjit.window_build

    def halved(*args):
        out = list(real_build(*args))
        out[8] = np.where(out[8] > 1, out[8] // 2, out[8])  # m_dur
        return tuple(out)

    monkeypatch.setattr(windowjit, "window_build", halved)
    real_check = snapshot.validate_arrays
    tally = {"accepted": 0, "refused": 0}

    def check(*args, **pins):
        try:
            real_check(*args, **pins)
        except InvalidSchedule as refused:
            assert any(" must be " in v for v in refused.violations), refused.violations[:3]
            tally["refused"] += 1
            raise
        tally["accepted"] += 1

    monkeypatch.setattr(snapshot, "validate_arrays", check)
    _pipeline_run(monkeypatch, 3)
    assert tally["refused"] > 5 and tally["accepted"] == 0, tally


def test_running_work_is_checked_where_it_runs(monkeypatch):
    """The reviewer's pinned_gap: a re-plan that moves running work to a twin cell, or starts it
    later, keeps every other rule; the check refuses it (the work runs where it runs, from 0)."""
    from scheduler.control import snapshot

    real_check = snapshot.validate_arrays
    tally = {"moved": 0, "later": 0}

    def check(columns, cell, start, end, *rest, pinned):
        cells = rest[-1]
        for i in pinned[0].tolist()[:3]:
            twins = [k for k, other in enumerate(cells) if other.pool == cells[cell[i]].pool and k != cell[i] and not other.unavailable]
            if twins:
                elsewhere = cell.copy()
                elsewhere[i] = twins[0]
                with pytest.raises(InvalidSchedule, match=r"runs on \S+ from 0, placed on "):
                    real_check(columns, elsewhere, start, end, *rest, pinned=pinned)
                tally["moved"] += 1
            later_start, later_end = start.copy(), end.copy()
            later_start[i] += 60
            later_end[i] += 60
            with pytest.raises(InvalidSchedule, match=rf"runs on {cells[cell[i]].id} from 0, placed on {cells[cell[i]].id} at 60"):
                real_check(columns, cell, later_start, later_end, *rest, pinned=pinned)
            tally["later"] += 1
        return real_check(columns, cell, start, end, *rest, pinned=pinned)

    monkeypatch.setattr(snapshot, "validate_arrays", check)
    _pipeline_run(monkeypatch, 5, hours=24)
    assert tally["moved"] > 3 and tally["later"] > 3, tally
