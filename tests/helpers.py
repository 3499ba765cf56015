"""Test scaffolding: a serial schedule (one operation at a time, trivially valid) for small problems."""
from __future__ import annotations

from scheduler.problem import Problem
from scheduler.schedule import Assignment, Schedule


def serial_schedule(problem: Problem) -> Schedule:
    """Every task alone on the floor, in job order: slow but valid by construction (no
    overlaps, no setups needed beyond the gap we leave, precedences in routing order)."""
    clock = 0
    out = []
    for job in problem.jobs:
        clock = max(clock, job.release)
        done: set[int] = set()
        pending = list(job.tasks)
        while pending:
            t = next(t for t in pending if all(p in done for p in problem.tasks[t].predecessors))
            pending.remove(t)
            task = problem.tasks[t]
            pool, duration = task.modes[0]
            cell = problem.cells[problem.pools[pool].cells[0]]
            clock = max(clock, task.release)
            out.append(Assignment(job.id, task.op, cell.id, clock, clock + duration))
            clock += duration + max(c.setup for c in problem.cells)
            done.add(t)
    return Schedule(out, horizon=max(problem.horizon, clock), status="heuristic", value=clock)


def completed_in_journal(journal) -> int:
    """Jobs the dispatch journal (an SQLite file another process writes) marks completed."""
    import sqlite3

    try:
        with sqlite3.connect(journal) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state='completed'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_mid_run_then_resume(cmd: list[str], cwd, journal, kill_after: int, total: int, wait_s: float = 90) -> dict:
    """Run a dispatch command, SIGKILL it once `kill_after` jobs are completed (asserting the
    kill lands mid-run), run it again to the end, and return the second run's JSON summary."""
    import json
    import os
    import signal
    import subprocess
    import time

    env = {**os.environ, "PYTHONPATH": str(cwd)}
    first = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and completed_in_journal(journal) < kill_after:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert kill_after <= completed_in_journal(journal) < total, "the kill must land mid-run"
    second = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-2000:]
    return json.loads(second.stdout)


def cell_controllers(tmp_path, faults: dict[str, list[str]], cwd):
    """Context manager: one emulated cell controller (our protocol, on a pty, journaling what it
    executes) per cell, with that cell's fault options; yields cell -> (device path, journal)."""
    import contextlib
    import subprocess
    import sys

    @contextlib.contextmanager
    def run():
        procs, out = [], {}
        try:
            for cell, args in faults.items():
                journal = tmp_path / f"{cell}.journal"
                proc = subprocess.Popen([sys.executable, "-m", "hardware.cellproto.emulator", "--time-scale", "0.0001",
                                         "--journal", str(journal), *args], stdout=subprocess.PIPE, text=True, cwd=cwd)
                procs.append(proc)
                out[cell] = (proc.stdout.readline().strip(), journal, proc)
            yield out
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                proc.wait(10)

    return run()


def executed_by_controllers(devices: dict) -> "Counter[str]":
    """How often each job id appears in the emulated controllers' own journals."""
    from collections import Counter

    executed: Counter[str] = Counter()
    for _, journal, _ in devices.values():
        executed.update(line.split("\t", 1)[0] for line in journal.read_text().splitlines())
    return executed
