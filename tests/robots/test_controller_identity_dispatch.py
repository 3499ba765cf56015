"""A dispatch whose GRBL cell reconnects to another board (the cell's stable device path now
leads to a different controller): nothing more is sent to that cell; each of its jobs goes to
`attention` with a one-line reason naming both controllers, and their successors wait (blocked,
not canceled). Real emulators on real ptys; the first board is SIGKILLed mid-run."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import serial

from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from robots.plans import problem_for_schedule
from scheduler.problem import build_problem
from tests.hardware.grbl_talk import Talk
from tests.helpers import serial_schedule

ROOT = Path(__file__).parents[2]


def _board(name: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "hardware.grbl.emulator", "--time-scale", "0.01"], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    path = proc.stdout.readline().strip()
    with serial.Serial(path, 115200, timeout=0.1) as port:
        assert Talk(port).reply(f"$I={name}") == "ok"  # commissioning: the board's name in its EEPROM
    return proc, path


def _point(link: Path, target: str) -> None:
    fresh = link.with_suffix(".new")
    os.symlink(os.path.realpath(target), fresh)
    os.replace(fresh, link)


def test_jobs_for_a_cell_whose_link_reached_another_board_wait_for_a_person(tiny_spec_path, tmp_path):
    spec = load_spec(tiny_spec_path)
    problem = build_problem(spec, [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(3)], 10**7)
    schedule = serial_schedule(problem)
    problem = problem_for_schedule(spec, schedule)
    grbl_cell = schedule.assignments[0].cell
    on_grbl = [a for a in schedule.assignments if a.cell == grbl_cell]
    assert len(on_grbl) >= 4
    link = tmp_path / "ttyACM-arm"
    first, path_a = _board("ARM-A")
    second, path_b = _board("ARM-B")
    _point(link, path_a)
    urls = {cell: f"mock://{cell}" for cell in {a.cell for a in schedule.assignments}}
    # A 10-minute operation dwells 0.3 s: the board is swapped while the cell still has work.
    urls[grbl_cell] = f"grbl+serial://{link}?time_scale=0.0005&reconnect_max=0.2"
    swapped: list[str] = []

    def on_event(event: dict) -> None:
        if event["cell"] == grbl_cell and event["state"] == "completed" and not swapped:
            swapped.append(event["job_id"])
            _point(link, path_b)
            os.kill(first.pid, signal.SIGKILL)  # the first board's adapter is gone
            first.wait()

    journal = Journal(tmp_path / "journal.sqlite")
    try:
        report = asyncio.run(Dispatcher(Fleet(urls), journal, timeout=20, on_event=on_event).run(problem, schedule))
        states = journal.states(report.plan)
        detail = {e.job_id: e.detail for e in journal.entries(report.plan)}
    finally:
        journal.close()
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    assert swapped
    grbl_jobs = [jid for jid in states if any(f"{a.job}/{a.op}" == jid.split(":", 1)[1] for a in on_grbl)]
    after = [jid for jid in grbl_jobs if states[jid] != "completed"]
    assert after, "the swap came after every job of the cell"
    reasons = [detail[jid] for jid in after if states[jid] == "attention"]
    # Every job of the cell that did not complete waits: for a person, or (blocked) for a
    # predecessor that waits for one; none ran on the second board.
    assert all(states[jid] in ("attention", "blocked") for jid in after), {jid: states[jid] for jid in after}
    assert any("another controller" in r and "ARM-A" in r and "ARM-B" in r for r in reasons), reasons
    assert all(len(r.splitlines()) == 1 for r in reasons)
    assert "canceled" not in report.counts and "failed" not in report.counts
    assert report.counts.get("blocked", 0) >= 1  # the units' later operations wait for the decision
