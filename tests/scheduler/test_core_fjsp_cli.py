"""`gwf fjsp solve`: one JSON object on stdout, assignments file, exit 2 on a malformed file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gwf.cli import app

INSTANCE = "3 2 1.5\n2 1 1 3 2 1 2 2 4\n1 2 1 2 2 3\n2 1 2 2 1 1 5\n"


def test_solve_prints_one_json_object_and_writes_assignments(tmp_path: Path):
    path, out = tmp_path / "three.txt", tmp_path / "plan.json"
    path.write_text(INSTANCE)
    result = CliRunner().invoke(app, ["fjsp", "solve", str(path), "--time-limit", "5", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"instance", "makespan", "lower_bound", "status", "seconds"} <= set(summary)
    assert summary["instance"] == "three" and summary["status"] == "optimal"
    rows = json.loads(out.read_text())
    assert {(r["job"], r["op"]) for r in rows} == {(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)}
    assert all(set(r) == {"job", "op", "machine", "start", "end"} and r["machine"] in (1, 2) for r in rows)
    assert max(r["end"] for r in rows) == summary["makespan"] >= summary["lower_bound"]
    # Each machine does one operation at a time and each job's operations run in file order.
    for machine in (1, 2):
        spans = sorted((r["start"], r["end"]) for r in rows if r["machine"] == machine)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    for job in (0, 2):
        first, second = sorted((r for r in rows if r["job"] == job), key=lambda r: r["op"])
        assert first["end"] <= second["start"]


@pytest.mark.parametrize("text, line", [
    ("1 2\n1 1 3 4\n", 2),
    # Found by fuzzing: these raised StopIteration (a traceback) or allocated until MemoryError.
    ("1 3\n1 1 2 \u00b2\n", 2),
    ("1 3\n1 1 2 --5\n", 2),
    ("1 10000000\n1 1 1 5\n", 1),
])
def test_malformed_file_exits_2_with_one_line(tmp_path: Path, text: str, line: int):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    result = subprocess.run([sys.executable, "-m", "gwf", "fjsp", "solve", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"line {line}:" in result.stderr
