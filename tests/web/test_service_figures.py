"""Figures a person can trust: every plan shows a bound and its gap (the service computes the
bound when the planner's was lost), MW per category against that category's bound and
target (never one sum), and bays counted as bays however many racks each holds."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from plant import load_spec
from web_support import TINY, wait_for_job

PIPELINE = TINY.parent / "pipeline.yaml"


@pytest.mark.parametrize("mode", ["steady-state", "from-empty"])
def test_every_mw_plan_has_a_bound_a_gap_and_mw_per_category(client: TestClient, mode: str) -> None:
    body = {"spec": PIPELINE.read_text(), "horizon_hours": 24, "time_limit": 1, "mode": mode}
    job = wait_for_job(client, client.post("/api/schedules", json=body).json()["id"])
    assert job["status"] == "done", job
    s = client.get(f"/api/schedules/{job['id']}", params={"limit": 1}).json()["schedule"]
    spec = load_spec(PIPELINE)
    assert s["bound"] > 0 and s["bound"] >= s["value"] - 1e-9
    assert s["gap"] == pytest.approx((s["bound"] - s["value"]) / s["bound"])
    categories = set(spec.target.mw)
    assert set(s["bound_mw"]) <= categories and set(s["delivered_mw"]) <= set(s["bound_mw"])
    for category, mw in s["delivered_mw"].items():
        assert mw <= s["bound_mw"][category] + 1e-9, category  # each category against its own bound
        assert s["weekly_rate_mw"][category] == pytest.approx(mw * 168 / 24)
    assert s["target_mw"] == dict(spec.target.mw)


def test_bays_are_counted_as_bays(client: TestClient) -> None:
    job = wait_for_job(client, client.post("/api/schedules", json={"horizon_hours": 168}).json()["id"])
    spec = load_spec(TINY)
    view = client.get(f"/api/schedules/{job['id']}/utilisation", params={"buckets": 4}).json()
    for pool in view["pools"]:
        kind = spec.cell_type_index[pool["name"]]
        assert len(pool["cells"]) == spec.cell_count(pool["name"])
        assert pool["per_cell"] == kind.capacity and pool["capacity"] == kind.capacity * len(pool["cells"])
    bay = next(p for p in view["pools"] if p["name"] == "bay")
    assert len(bay["cells"]) == 1 and bay["capacity"] == 3  # one bay holding three units, not three bays
