"""A cell whose controller goes away for good mid-run (its emulator SIGKILLed after a few jobs,
its device path removed): its queued work moves to the other cell of its pool, each move
journaled with its reason, also when the dispatcher is SIGKILLed as the cell is declared down.
The job in flight when the controller died may have run there, so it is never moved: it waits
for a person's decision; the person reads the dead controller's journal and decides `done` or
`redo`, and then every job of the plan has run exactly once across all controllers (their own
journals are the judge)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from plant import load_spec
from plant.demand import Order
from scheduler.problem import build_problem
from tests.helpers import cell_controllers, executed_by_controllers, serial_schedule

ROOT = Path(__file__).parents[2]


def _decisions(journal: Path) -> list[tuple]:
    try:
        with sqlite3.connect(journal) as db:
            return db.execute("SELECT kind, job_id, cell, target, reason FROM decisions ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []


FAULTS = {"arm-a": [], "arm-b": [], "cabler": [], "bay": []}  # one emulated controller a cell, no injected faults


def _emulated_floor(tmp_path, tiny_spec_path, devices):
    """The tiny floor on emulated controllers (two arms, a cabler, a bay) and a serial plan for
    five racks and a CDU: every arm operation planned on arm-a, the first cell of its pool."""
    raw = yaml.safe_load(tiny_spec_path.read_text())
    raw["cells"] = [{"type": t, "prefix": cell, "url": f"serial://{devices[cell][0]}"}
                    for cell, t in (("arm-a", "arm"), ("arm-b", "arm"), ("cabler", "cabler"), ("bay", "bay"))]
    spec_path = tmp_path / "floor.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    problem = build_problem(load_spec(spec_path), [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(5)]
                            + [Order("cdu#0", "cdu", 0, 10**7)], 10**7)
    schedule = serial_schedule(problem)
    plan = tmp_path / "plan.json"
    schedule.to_json(plan)
    return spec_path, schedule, plan


def test_a_controller_down_for_good_has_its_queue_moved_and_every_job_runs_once(tmp_path, tiny_spec_path):
    with cell_controllers(tmp_path, FAULTS, ROOT) as devices:
        spec_path, schedule, plan = _emulated_floor(tmp_path, tiny_spec_path, devices)
        assert {a.cell for a in schedule.assignments if a.op in ("frame", "power")} == {"arm-a"}
        journal = tmp_path / "dispatch.sqlite"
        # The emulators run 10,000 plan seconds a second; released at planned times, arm-b does
        # not take arm-a's work early (twin-cell help waits for a job to be due).
        cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan), "--spec", str(spec_path), "--journal", str(journal),
               "--timeout", "2", "--down-after", "1", "--speed", "10000", "--release", "planned", "--early", "0", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        path, arm_a_journal, arm_a = devices["arm-a"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not arm_a_journal.exists() or len(arm_a_journal.read_text().splitlines()) < 4):
            time.sleep(0.002)
        arm_a.kill()  # the controller is gone for good; a pty number is reused by the system, so its path goes too
        arm_a.wait()
        os.unlink(path)
        while time.monotonic() < deadline and not any(d[0] == "cell-down" for d in _decisions(journal)):
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)  # as the cell is declared down: before, during or just after its moves
        first.wait()
        assert [d[2] for d in _decisions(journal) if d[0] == "cell-down"] == ["arm-a"]

        resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        with sqlite3.connect(journal) as db:
            held = db.execute("SELECT job_id, detail FROM jobs WHERE state='attention'").fetchall()
        assert resumed.returncode == (1 if held else 0), resumed.stderr[-2000:]  # 1: a job waits for a decision
        decisions = _decisions(journal)
        moves = [d for d in decisions if d[0] == "move"]
        down_at = next(i for i, d in enumerate(decisions) if d[0] == "cell-down")
        assert moves and all(d[2] != d[3] and d[4].startswith("controller:") for d in moves)  # the floor controller decided them
        assert any(d[0] == "move" and d[2] == "arm-a" and d[3] == "arm-b" for d in decisions[down_at:])
        assert not any(d[3] == "arm-a" for d in decisions[down_at:]), "work moved onto the lost cell"
        assert len(held) <= 1 and all("may have run there" in detail for _, detail in held)
        assert set(executed_by_controllers(devices).values()) == {1}

        # The operator reads the dead controller's record: it ran (done) or it did not (redo, on another cell).
        ran_on_a = {line.split("\t", 1)[0] for line in arm_a_journal.read_text().splitlines()}
        decide = [f"--decide={jid}={'done' if jid in ran_on_a else 'redo'}" for jid, _ in held]
        decided = subprocess.run(cmd + decide, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert decided.returncode == 0, decided.stderr[-2000:]
        assert json.loads(decided.stdout)["counts"] == {"completed": len(schedule.assignments)}
        executed = executed_by_controllers(devices)
        assert len(executed) == len(schedule.assignments) and set(executed.values()) == {1}, "a job ran twice or never"
        ran_on_b = {line.split("\t", 1)[0] for line in devices["arm-b"][1].read_text().splitlines()}
        assert ran_on_b and not ran_on_b & ran_on_a
        assert {d[1] for d in moves} <= ran_on_b  # every moved job ran on the other cell of its pool


def test_a_dispatcher_killed_around_its_re_plans_runs_every_job_once(tmp_path, tiny_spec_path):
    """Rolling re-plans every 30 plan minutes (0.18 s here), the dispatcher SIGKILLed as soon as
    each new re-plan is journaled (inside or just after its transaction), restarted each time:
    every job runs exactly once on the controllers, and what each re-plan moved is journaled
    with it."""
    with cell_controllers(tmp_path, FAULTS, ROOT) as devices:
        spec_path, schedule, plan = _emulated_floor(tmp_path, tiny_spec_path, devices)  # a re-plan spreads arm-a's work
        journal = tmp_path / "dispatch.sqlite"
        cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan), "--spec", str(spec_path), "--journal", str(journal),
               "--timeout", "2", "--speed", "10000", "--release", "planned", "--control", "replan", "--replan-every", "30m", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        kills = 0
        for _ in range(4):
            seen = sum(d[0] == "replan" for d in _decisions(journal))
            run = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while run.poll() is None and time.monotonic() < deadline and sum(d[0] == "replan" for d in _decisions(journal)) == seen:
                time.sleep(0.001)
            if run.poll() is not None:
                break
            run.send_signal(signal.SIGKILL)
            run.wait()
            kills += 1
        assert kills >= 2, "the kills must land mid-run"
        final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert final.returncode == 0, final.stderr[-2000:]
        assert json.loads(final.stdout)["counts"] == {"completed": len(schedule.assignments)}
        executed = executed_by_controllers(devices)
        assert len(executed) == len(schedule.assignments) and set(executed.values()) == {1}, "a job ran twice or never"
        decisions = _decisions(journal)
        assert sum(d[0] == "replan" for d in decisions) >= kills
        moved = [d for d in decisions if d[0] == "move" and "replan" in d[4]]
        assert moved and all(d[2] != d[3] for d in moved)
        ran_on_b = {line.split("\t", 1)[0] for line in devices["arm-b"][1].read_text().splitlines()}
        assert ran_on_b, "the re-plans put none of arm-a's planned work on arm-b"
