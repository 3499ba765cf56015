"""The dispatch route's options as `gwf dispatch` has them: `down_after` (checked, 422 naming the
field and its range; operators only, as the route) and `carry_in` (a steady-state plan's
warm-up units are not sent unless asked)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app
from gwf.service.auth import Role
from gwf.service.auth_store import issue_token
from scheduler.carryin import CARRIED_MARK
from web_support import wait_for_job

PIPELINE = Path(__file__).parents[1] / "specs" / "pipeline.yaml"


@pytest.fixture
def pipeline_client(tmp_path: Path) -> Iterator[TestClient]:
    """A server whose floor is the pipeline spec: its steady-state plans carry warm-up units in."""
    settings = ServiceSettings(data_dir=tmp_path / "data", spec=PIPELINE, workers=1, job_threads=2, client_rate=1000,
                               client_burst=1000, allowed_hosts=["testserver"], dispatch_url="mock://{id}")
    with TestClient(create_app(settings)) as client:
        yield client


def _plan(client: TestClient, hours: float, headers: dict[str, str] | None = None) -> str:
    made = client.post("/api/schedules", json={"horizon_hours": hours, "time_limit": 3}, headers=headers or {})
    assert made.status_code == 202, made.text
    job = wait_for_job(client, made.json()["id"], timeout_s=60)
    assert job["status"] == "done", job
    return job["id"]


@pytest.mark.parametrize("value", [-1, 3600.5, 1e9])
def test_down_after_out_of_range_is_a_422_naming_the_field_and_the_range(client: TestClient, value: float) -> None:
    answer = client.post("/api/dispatch", json={"schedule_id": "whatever", "down_after": value})
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "down_after"
    assert body["detail"].startswith("down_after:") and "between 0 and 3600 seconds" in body["detail"], body
    assert len(body["detail"].splitlines()) == 1


def test_down_after_and_carry_in_refuse_the_wrong_type(client: TestClient) -> None:
    wrong = client.post("/api/dispatch", json={"schedule_id": "whatever", "down_after": "soon"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "down_after"
    rule = client.post("/api/dispatch", json={"schedule_id": "whatever", "carry_in": "maybe"})
    assert rule.status_code == 422 and rule.json()["field"] == "carry_in" and "skip" in rule.json()["detail"]


def test_down_after_is_an_operator_option(settings: ServiceSettings) -> None:
    app = create_app(settings)
    tokens = {role: issue_token(app.state.audit, f"{role.value}-1", role.value)[1] for role in Role}
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {tokens[Role.operator]}"
        schedule_id = _plan(client, 168)
        body = {"schedule_id": schedule_id, "down_after": 5, "first": 2}
        for role in (Role.viewer, Role.planner):
            assert client.post("/api/dispatch", json=body, headers={"Authorization": f"Bearer {tokens[role]}"}).status_code == 403
        assert client.post("/api/dispatch", json=body, headers={"Authorization": ""}).status_code == 401
        accepted = client.post("/api/dispatch", json=body)
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(client, accepted.json()["id"], timeout_s=60)
        assert job["status"] == "done" and job["result"]["down_after"] == 5 and job["result"]["jobs"] == 2


def test_carried_in_work_is_skipped_unless_sent(pipeline_client: TestClient) -> None:
    client = pipeline_client
    schedule_id = _plan(client, 8)
    rows = client.get(f"/api/schedules/{schedule_id}", params={"limit": 10000}).json()["assignments"]
    carried = [r for r in rows if r["job"].endswith(CARRIED_MARK)]
    assert carried, "the pipeline floor's steady-state plan should carry work in"
    skipped = wait_for_job(client, client.post("/api/dispatch", json={"schedule_id": schedule_id}).json()["id"], timeout_s=60)
    assert skipped["status"] == "done", skipped
    result = skipped["result"]
    assert result["counts"] == {"completed": len(rows) - len(carried)}
    assert result["carry_in"]["rule"] == "skip" and result["carry_in"]["operations"] == len(carried)
    sent = wait_for_job(client, client.post("/api/dispatch", json={"schedule_id": schedule_id, "carry_in": "send"}).json()["id"], timeout_s=60)
    # The plan's own jobs are done already (same content, same journal): only the carried ones go now.
    assert sent["status"] == "done" and sent["result"]["sent"] == len(carried)
    assert sent["result"]["counts"] == {"completed": len(rows)}
