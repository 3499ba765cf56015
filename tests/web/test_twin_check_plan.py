"""The service checks every stored plan on the twin: a running floor's plan (units carried in)
through POST /api/twin with a control policy, reporting planned against delivered MW."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings
from web_support import wait_for_job

LOOP = Path(__file__).resolve().parents[1] / "specs" / "loop.yaml"


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> ServiceSettings:
    return ServiceSettings(data_dir=tmp_path / "data", spec=LOOP, workers=1, job_threads=2, database_url=database_url,
                           client_rate=1000, client_burst=1000, allowed_hosts=["testserver"])


def test_a_running_floor_plan_is_checked_on_the_twin(client: TestClient) -> None:
    made = client.post("/api/schedules", json={"horizon_hours": 30, "demand_hours": 30, "time_limit": 2})
    assert made.status_code == 202, made.text
    plan = wait_for_job(client, made.json()["id"], timeout_s=60)
    assert plan["status"] == "done" and plan["result"]["mode"] == "steady-state", plan
    schedule_id = plan["result"]["schedule_id"]
    bad = client.post("/api/twin", json={"schedule_id": schedule_id, "control": "wild"})
    assert bad.status_code == 422 and bad.json()["field"] == "control"
    job = client.post("/api/twin", json={"schedule_id": schedule_id, "replications": 2, "control": "replan"})
    result = wait_for_job(client, job.json()["id"], timeout_s=120)
    assert result["status"] == "done", result
    report = result["result"]
    assert set(report["planned_mw_by_category"]) == set(report["delivered_mw_by_category"]) == {"compute", "cooling"}
    assert report["execution"]["control"] == "replan" and report["execution"]["horizon_h"] == 30
