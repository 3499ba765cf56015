"""The URL registry, the mock behind the same face, and the layer's import boundary."""
from __future__ import annotations

import asyncio
import pathlib
import re
import subprocess
import sys

import pytest

from hardware.driver import CellJob, DriverError, DriverState
from hardware.registry import driver_for_url, known_schemes


def test_every_documented_scheme_is_registered():
    assert set(known_schemes()) >= {
        "mock", "serial", "loop", "socket", "rfc2217",
        "grbl+serial", "grbl+loop", "grbl+socket", "grbl+rfc2217", "modbus+serial",
    }


def test_mock_pipelines_and_recognises_resent_ids():
    async def scenario() -> None:
        driver = driver_for_url("mock://cell-1?fail_every=3")
        with pytest.raises(DriverError, match="cannot execute in state configured"):
            await driver.execute(CellJob("x", "cell-1", "op", 0), timeout=1)
        async with driver:
            results = await driver.execute_many([CellJob(f"M{i}", "cell-1", "op", 0) for i in range(6)], timeout=1)
            again = await driver.execute(CellJob("M2", "cell-1", "op", 0), timeout=1)
        assert [r.ok for r in results] == [True, True, False, True, True, False]
        assert again.duplicate and not again.ok
        assert driver.state is DriverState.CLOSED

    asyncio.run(scenario())


def test_hardware_imports_only_plant_and_third_party():
    """DESIGN.md: hardware/ may import plant/ and third-party packages, never scheduler, sim, robots or gwf."""
    package = pathlib.Path(__file__).resolve().parents[2] / "hardware"
    upward = re.compile(r"^\s*(from|import)\s+(scheduler|sim|robots|gwf)\b", re.MULTILINE)
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py") if upward.search(p.read_text())]
    assert offenders == []


def test_a_scheme_module_is_imported_only_when_a_url_uses_it():
    """A missing optional dependency (pymodbus here, blocked in a fresh interpreter) breaks only its own URLs."""
    probe = """
import sys
sys.modules["pymodbus"] = None  # as if pymodbus were not installed
from hardware.registry import driver_for_url, SchemeUnavailable
driver = driver_for_url("mock://cell")
assert not any(m.startswith(("hardware.grbl", "hardware.cellproto", "hardware.modbus")) for m in sys.modules), sorted(sys.modules)
try:
    driver_for_url("modbus+serial:///dev/null")
except SchemeUnavailable as exc:
    print("unavailable:", exc)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "unavailable: driver url 'modbus+serial:///dev/null': scheme 'modbus+serial' needs hardware.modbus.driver" in out.stdout


def test_unknown_scheme_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown scheme 'ftp'; valid: .*grbl\+serial.*mock"):
        driver_for_url("ftp://x")
