import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plant import load_spec
from scheduler.schedule import Schedule
from scheduler.validate import validate
from tests.scheduler.scale_problems import TINY_SPEC as TINY

ROOT = Path(__file__).resolve().parents[2]


def gwf(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gwf", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    spec = tmp / "tiny.yaml"
    spec.write_text(TINY)
    run = gwf("schedule", str(spec), "--horizon", "1d", "--time-limit", "3", "--workers", "1", "--json", "--out-dir", str(tmp / "out"))
    assert run.returncode == 0, run.stderr
    return spec, tmp / "out", run


def test_schedule_json_is_one_object_with_the_promised_fields(planned):
    spec, out, run = planned
    summary = json.loads(run.stdout)  # exactly one JSON document on stdout
    for key in ("mw_by_category", "bound_mw_by_category", "gap_to_bound", "deployable_gw", "seconds", "operations", "status"):
        assert key in summary
    assert set(summary["mw_by_category"]) == {"compute", "power"}
    for cat, mw in summary["mw_by_category"].items():
        assert mw <= summary["bound_mw_by_category"][cat] + 1e-6
    assert 0.0 <= summary["gap_to_bound"] <= 1.0
    assert {p.name for p in out.iterdir()} >= {"schedule.json", "schedule.csv", "gantt.html"}


def test_written_plan_is_valid_for_the_spec(planned):
    spec_path, out, run = planned
    from scheduler.steady import recorded_problem

    spec = load_spec(spec_path)
    schedule = Schedule.from_json(out / "schedule.json")
    # The plan records how it was made; the problem it was made for is rebuilt from that.
    assert schedule.kpis["mode"] == "steady-state"
    problem = recorded_problem(spec, schedule.kpis)
    validate(problem, schedule)
    assert len(schedule.assignments) == json.loads(run.stdout)["operations"]
    assert "<script>" in (out / "gantt.html").read_text() and "http" not in (out / "gantt.html").read_text().split("<script>")[1]


def test_repair_from_the_command_line(planned):
    spec, out, _ = planned
    run = gwf("schedule", "--repair", str(out / "schedule.json"), "--down", "builder-001@4h+2h", "--now", "3h", "--json", "--out-dir", str(out / "repaired"))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert 0 <= result["moved"] <= result["unstarted"]
    assert result["seconds"] >= 0


def gwf_in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The real entry point (gwf.cli.main: one line, exit 2 for bad input) without a new interpreter."""
    from gwf.cli import main

    monkeypatch.setattr(sys, "argv", ["gwf", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.mark.parametrize("text", ["products: [", "name: x\nproducts: []\n"])
def test_malformed_spec_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, text):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code, out, err = gwf_in_process(monkeypatch, capsys, "schedule", str(bad), "--json")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "bad.yaml" in err


def test_bad_down_argument_is_one_line_and_exit_2(planned, monkeypatch, capsys):
    _, out_dir, _ = planned
    code, _, err = gwf_in_process(monkeypatch, capsys, "schedule", "--repair", str(out_dir / "schedule.json"), "--down", "nonsense")
    assert code == 2 and "CELL@TIME+DURATION" in err and len(err.strip().splitlines()) == 1
