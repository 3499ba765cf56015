"""Chains, not parts: every file one command writes is accepted by the next one a user runs.

`gwf schedule` -> `gwf twin --schedule` -> `gwf schedule --repair` -> `gwf compare` / `gwf why` /
`gwf export` -> `gwf dispatch` (an interrupted dispatch of the plan, then its repair), as real
processes on a small spec, in each planning mode; the commands after the first run from another
directory than the plan was made in (a plan names its spec; it must still be found). Then the
same chain through the HTTP API. Properties only: exit codes, files accepted, the repaired plan
validates, nothing delivered above the capacity bound, figures that two commands report for the
same plan agree, and the dispatch journal holds every job exactly once, sent at most once."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwf.plans.loaded import load_plan
from scheduler.validate import validate

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "specs" / "chain.yaml"
EPS = 1e-6


def gwf(cwd: Path, *args: str) -> dict:
    """Run `gwf ARGS --json` in `cwd`; exit 0 and one JSON object on stdout, or the test fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "gwf", *args, "--json"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, f"gwf {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def journal_rows(path: Path) -> list[tuple[str, str, str, str, int]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT job, op, cell, state, attempts FROM jobs").fetchall()


def wait_for_job(client, job_id: str) -> dict:
    """Poll until the job has ended (a cap only to fail rather than hang)."""
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled", "interrupted") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def assert_valid_plan(path: Path) -> None:
    loaded = load_plan(path)
    validate(loaded.problem, loaded.schedule, complete=False)


@pytest.mark.parametrize("mode", [[], ["--from-empty"], pytest.param(["--availability"], marks=pytest.mark.slow)],
                         ids=["steady-state", "from-empty", "availability"])
def test_cli_chain(tmp_path: Path, mode: list[str]) -> None:
    made, elsewhere = tmp_path / "made", tmp_path / "elsewhere"
    (made / "specs").mkdir(parents=True)
    elsewhere.mkdir()
    (made / "specs" / "chain.yaml").write_text(SPEC.read_text())

    # 1. plan, with the spec named relative to where it is made
    plan = gwf(made, "schedule", "specs/chain.yaml", "--horizon", "12h", "--time-limit", "3", "--out-dir", "out", *mode)
    plan_path = made / plan["files"]["json"]
    for written in plan["files"].values():
        assert (made / written).is_file()
    assert_valid_plan(plan_path)
    for cat, mw in plan["mw_by_category"].items():
        assert mw <= plan["bound_mw_by_category"][cat] + 1e-3
    original = plan_path.read_bytes()
    assert plan["files"]["gantt"].endswith("gantt.html")  # the README's out/gantt.html

    # 2. the twin executes the plan, from another directory, on the plan's own spec
    twin = gwf(elsewhere, "twin", "--schedule", str(plan_path), "--replications", "2", "--weeks", "0.2")
    assert twin["spec"] == "chain"
    run = twin["execution"]
    assert run["planned_mw_by_category"] == pytest.approx(plan["mw_by_category"], abs=1e-3)
    for cat, mw in run["delivered_mw_by_category"].items():  # durations are deterministic: no run beats the bound
        assert mw <= plan["bound_mw_by_category"][cat] + 1e-3

    # 3. repair after an arm goes down: a new file beside the plan, which validates
    repair = gwf(elsewhere, "schedule", "--repair", str(plan_path), "--down", "arm-001@2h+3h")
    repaired_path = Path(repair["files"]["json"])
    assert plan_path.read_bytes() == original, "the repair wrote over its plan"
    assert repaired_path.parent == plan_path.parent and repaired_path != plan_path
    assert_valid_plan(repaired_path)
    assert repair["value_mw"] <= repair["bound_mw"] + EPS
    assert repair["mw_before_by_category"] == pytest.approx(plan["mw_by_category"], abs=1e-3)

    # 4. compare, why and export read both plans and agree with what the repair said
    compared = gwf(elsewhere, "compare", str(plan_path), str(repaired_path))
    assert compared["a"]["mw_by_category"] == pytest.approx(repair["mw_before_by_category"], abs=EPS)
    assert compared["b"]["mw_by_category"] == pytest.approx(repair["mw_after_by_category"], abs=EPS)
    assert compared["b"]["deployable_gw"] == pytest.approx(repair["deployable_gw_after"], abs=1e-6)
    # the repair names the units it made late or left open; compare's counts cannot grow by more
    assert compared["delta"]["units_late"] <= repair["units_now_late"]
    assert compared["delta"]["units_open"] <= repair["units_now_open"]
    why = gwf(elsewhere, "why", str(repaired_path))
    assert isinstance(why, dict)
    beside = {name: (plan_path.parent / name).read_bytes() for name in ("schedule.csv", "schedule.xlsx", "gantt.html")}
    exported = gwf(elsewhere, "export", str(repaired_path), "--out-dir", str(plan_path.parent))
    assert all(Path(f).is_file() for f in exported["files"].values())
    assert {name: (plan_path.parent / name).read_bytes() for name in beside} == beside, "export wrote over another plan's files"

    # 5. dispatch the plan, interrupted after a few jobs, then its repair on the same journal
    journal = elsewhere / "journal.sqlite"
    # Carried-in work sent too (every operation of both plans, as a simulated floor would run them);
    # the plan clock fast, so the repaired arm's downtime is over by the time the second run starts.
    fast = ("--url", "mock://{id}", "--carry-in", "send", "--speed", "100000", "--journal", str(journal))
    first = gwf(elsewhere, "dispatch", str(plan_path), *fast, "--jobs", "6")
    sent_first = {(job, op): cell for job, op, cell, state, _ in journal_rows(journal) if state != "queued"}
    assert first["counts"] == {"completed": 6} and len(sent_first) == 6
    second = gwf(elsewhere, "dispatch", str(repaired_path), *fast)
    repaired_ops = {(a["job"], a["op"]): a["cell"] for a in json.loads(repaired_path.read_text())["assignments"]}
    rows = journal_rows(journal)
    assert second["counts"] == {"completed": len(repaired_ops)}
    assert sorted((job, op) for job, op, *_ in rows) == sorted(repaired_ops)  # every job, exactly once
    assert all(attempts == 1 for *_, attempts in rows)  # none sent twice
    assert first["sent"] + second["sent"] == len(repaired_ops)
    for job, op, cell, _, _ in rows:  # what was not sent before the repair went where the repair put it
        assert cell == sent_first.get((job, op), repaired_ops[(job, op)])


@pytest.mark.parametrize("mode, availability", [("steady-state", False), ("from-empty", False), ("steady-state", True)])
def test_api_chain_agrees_with_the_cli(tmp_path: Path, mode: str, availability: bool) -> None:
    from fastapi.testclient import TestClient

    from gwf.service import ServiceSettings, create_app

    cli = gwf(tmp_path, "schedule", str(SPEC), "--horizon", "12h", "--time-limit", "3", "--out-dir", "out",
              *(["--from-empty"] if mode == "from-empty" else []), *(["--availability"] if availability else []))
    settings = ServiceSettings(data_dir=tmp_path / "data", spec=SPEC, workers=1, job_threads=2, client_rate=1000,
                               client_burst=1000, allowed_hosts=["testserver"], dispatch_url="mock://{id}")
    with TestClient(create_app(settings)) as client:
        accepted = client.post("/api/schedules", json={"horizon_hours": 12, "time_limit": 3, "mode": mode, "availability": availability})
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["id"])
        assert job["status"] == "done", job
        schedule_id = job["result"]["schedule_id"]
        summary = client.get(f"/api/schedules/{schedule_id}").json()["schedule"]
        assert summary["kpis"]["availability"] is availability and summary["kpis"]["mode"] == mode
        # one plan of one problem: the bound and MW per category the API shows are the CLI's
        assert summary["bound"] == pytest.approx(cli["bound_mw"], abs=1e-3)
        assert summary["bound_mw"] == pytest.approx(cli["bound_mw_by_category"], abs=1e-3)
        if cli["status"] == summary["status"] == "optimal":
            assert summary["delivered_mw"] == pytest.approx(cli["mw_by_category"], abs=1e-3)
            assert summary["gap"] == pytest.approx(cli["gap_to_bound"], abs=1e-6)
        assert summary["value"] <= summary["bound"] + EPS

        twin = client.post("/api/twin", json={"schedule_id": schedule_id, "replications": 2, "weeks": 0.2})
        assert twin.status_code == 202, twin.text
        job = wait_for_job(client, twin.json()["id"])
        assert job["status"] == "done", job
        run = job["result"]["execution"]
        assert run["planned_mw_by_category"] == pytest.approx(summary["delivered_mw"], abs=1e-3)
        for cat, mw in run["delivered_mw_by_category"].items():
            assert mw <= summary["bound_mw"][cat] + 1e-3

        dispatch = client.post("/api/dispatch", json={"schedule_id": schedule_id, "carry_in": "send"})
        assert dispatch.status_code == 202, dispatch.text
        job = wait_for_job(client, dispatch.json()["id"])
        assert job["status"] == "done", job
        assert job["result"]["counts"] == {"completed": summary["assignments"]}
        assert job["result"]["sent"] == summary["assignments"] and job["result"]["duplicates"] == 0


def test_a_repair_of_a_repair_keeps_the_earlier_downtime(tmp_path: Path) -> None:
    """A repaired plan records the downtime it was made around (kpis.down): repairing it again
    keeps off the cell that is still down, and readers rebuild the problem with it."""
    from gwf.commands.schedule import plan_floor, repair_plan, write_outputs, write_repair

    made = plan_floor(str(SPEC), 12 * 3600, 12.0, time_limit=3, workers=1, seed=0)
    plan_path = Path(write_outputs(tmp_path, made["problem"], made["schedule"])["json"])
    first = repair_plan(plan_path, None, ["arm-001@2h+6h"], None)
    once = Path(write_repair(plan_path, None, first["problem"], first["schedule"])["json"])
    second = repair_plan(once, None, ["arm-002@3h+2h"], "3h")
    twice = Path(write_repair(once, None, second["problem"], second["schedule"])["json"])
    for path in (once, twice):
        assert_valid_plan(path)  # on the problem rebuilt with the recorded downtime
        loaded = load_plan(path)
        windows = [w for c in loaded.problem.cells if c.id == "arm-001" for w in c.unavailable]
        assert any(end == 8 * 3600 for _, end in windows), "the repaired plan forgot arm-001's downtime"
        assert not [a for a in loaded.schedule.assignments
                    if a.cell == "arm-001" and a.start >= 3 * 3600 and a.start < 8 * 3600]


def test_dispatch_measures_delivery_on_the_clock_of_its_url() -> None:
    """Delivery by the horizon is judged in plan seconds: a time_scale URL runs 1/time_scale
    plan seconds per wall second (else a fast mock 'delivers' every unit, past the horizon too)."""
    from gwf.commands.dispatch import _url_speed

    assert _url_speed("mock://{id}?time_scale=0.001") == pytest.approx(1000)
    assert _url_speed("sim://{id}?speed=500") == 500
    assert _url_speed("mock://{id}") == _url_speed(None) == 1.0  # instant, or real time
    with pytest.raises(ValueError, match=r"--url: time_scale="):
        _url_speed("mock://{id}?time_scale=fast")
