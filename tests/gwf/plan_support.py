"""A one-cell floor offered twice what it can make, so units queue for the cell and stay open at
the horizon; one product's name is an HTML injection, another's an Excel formula."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
XSS = "<img src=x onerror=alert(document.domain)>"
FORMULA = "=HYPERLINK(\"http://x\",\"y\")"

QUEUE_SPEC = {
    "name": "queue",
    "target": {"facility_gw": 0.001, "mw": {"compute": 5.0, "cooling": 1.0}},
    "demand": {"widget": 336, XSS: 24, FORMULA: 24},
    "products": [
        {"name": "widget", "family": "w", "category": "compute", "mw": 0.05,
         "routing": [{"id": "build", "capability": "build", "duration": "50m"},
                     {"id": "check", "capability": "check", "duration": "10m", "predecessors": ["build"]}]},
        {"name": XSS, "family": "x", "category": "cooling", "mw": 0.1,
         "routing": [{"id": "build", "capability": "build", "duration": "30m"}]},
        {"name": FORMULA, "family": "x", "category": "cooling", "mw": 0.1,
         "routing": [{"id": "build", "capability": "build", "duration": "30m"}]},
    ],
    "cell_types": [{"name": "arm", "capabilities": {"build": 1.0}, "setup": "5m"},
                   {"name": "checker", "capabilities": {"check": 1.0}}],
    "cells": [{"type": "arm", "count": 1}, {"type": "checker", "count": 1}],
}


def gwf(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gwf", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def write_queue_spec(folder: Path, **changes) -> Path:
    path = folder / "queue.yaml"
    path.write_text(yaml.safe_dump({**QUEUE_SPEC, **changes}, sort_keys=False), encoding="utf-8")
    return path


def plan_queue(folder: Path, *extra: str) -> Path:
    """Plan a day of the queue floor from empty; returns the out dir."""
    spec = write_queue_spec(folder)
    out = folder / "out"
    run = gwf("schedule", str(spec), "--horizon", "1d", "--from-empty", "--time-limit", "5", "--workers", "1",
              "--start", "2026-12-07T06:00:00+01:00", "--out-dir", str(out), "--json", *extra)
    assert run.returncode == 0, run.stderr
    return out
