"""Retries follow what the driver can promise: GRBL has no job ids, so a job cut by a lost
link (emulator with --disconnect-every) is never re-sent, by this run or the next; it waits
in `attention` for a person's decision, with the reason journaled."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from plant import load_spec
from plant.demand import Order
from scheduler.problem import build_problem
from tests.helpers import serial_schedule

ROOT = Path(__file__).parents[2]


@contextlib.contextmanager
def grbl_emulators(n: int, *args: str):
    procs = [subprocess.Popen([sys.executable, "-m", "hardware.grbl.emulator", *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(n)]
    try:
        yield [p.stdout.readline().strip() for p in procs]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def _sends(journal: Path) -> dict[str, int]:
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT j.job_id, (SELECT COUNT(*) FROM transitions t WHERE t.job_id=j.job_id AND t.to_state='underway') "
                          "FROM jobs j WHERE j.cell LIKE 'arm%'").fetchall()
    return dict(rows)


def test_a_grbl_job_cut_by_a_lost_link_is_never_re_sent(tmp_path, tiny_spec_path):
    raw = yaml.safe_load(tiny_spec_path.read_text())
    with grbl_emulators(2, "--time-scale", "0.001", "--disconnect-every", "7", "--down", "0.2") as (a, b):
        raw["cells"] = [
            {"type": "arm", "prefix": "arm-a", "url": f"grbl+serial://{a}?time_scale=0.0002"},
            {"type": "arm", "prefix": "arm-b", "url": f"grbl+serial://{b}?time_scale=0.0002"},
            {"type": "cabler", "prefix": "cabler"},
            {"type": "bay", "prefix": "bay"},
        ]
        spec_path = tmp_path / "grbl.yaml"
        spec_path.write_text(yaml.safe_dump(raw))
        problem = build_problem(load_spec(spec_path), [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(10)], 10**7)
        plan = tmp_path / "plan.json"
        serial_schedule(problem).to_json(plan)
        journal = tmp_path / "journal.sqlite"
        cmd = [sys.executable, "-m", "gwf", "dispatch", str(plan), "--spec", str(spec_path), "--journal", str(journal), "--timeout", "10", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        sends = _sends(journal)
        with sqlite3.connect(journal) as db:
            held = db.execute("SELECT job_id, detail FROM jobs WHERE state='attention'").fetchall()
        assert held, "with a disconnect every 7 lines some GRBL job must have been cut"
        assert first.returncode == 1  # not everything done: a decision is pending
        assert all("interrupted" in detail and "not re-sent" in detail for _, detail in held)
        assert max(sends.values()) == 1, "a GRBL job was sent twice"
        again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 1
        resent = {j for j, n in _sends(journal).items() if n > 1}
        assert not resent & {j for j, _ in held}, "the next run re-sent a job that waits for a decision"
