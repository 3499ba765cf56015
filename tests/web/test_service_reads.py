"""The read path under load: planning runs in a child process (cancel still stops it, and kills
it), and read answers kept as bytes are the same answers, forgotten when a plan is stored."""
from __future__ import annotations

import multiprocessing
import time

from fastapi.testclient import TestClient

from web_support import wait_for_job
from gwf.service import ServiceSettings, create_app
from gwf.service.models import AssignmentPage, Utilisation


def _planning_children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "gwf-plan"]


def test_planning_runs_in_a_child_process_that_a_cancel_kills(settings: ServiceSettings) -> None:
    # A day of the 1 GW catalog with a long search: it is still planning when cancelled.
    with TestClient(create_app(settings.model_copy(update={"spec": None}))) as client:
        job = client.post("/api/schedules", json={"horizon_hours": 24, "time_limit": 120}).json()
        deadline = time.monotonic() + 60
        while not _planning_children() or client.get(f"/api/jobs/{job['id']}").json()["progress"]["fraction"] <= 0:
            assert time.monotonic() < deadline, "no planning process reported progress"
            time.sleep(0.05)
        assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "running"
        done = wait_for_job(client, job["id"], timeout_s=30)
        assert done["status"] == "cancelled" and done["result"] is None
        assert _planning_children() == []  # killed, not left searching
        assert client.get(f"/api/schedules/{job['id']}").status_code == 404


def test_kept_answers_are_the_models_and_a_new_plan_is_listed_at_once(client: TestClient) -> None:
    first = wait_for_job(client, client.post("/api/schedules", json={"horizon_hours": 168}).json()["id"], timeout_s=120)
    assert first["status"] == "done", first
    assert [p["id"] for p in client.get("/api/schedules").json()] == [first["id"]]
    page = client.get(f"/api/schedules/{first['id']}", params={"limit": 5})
    again = client.get(f"/api/schedules/{first['id']}", params={"limit": 5})
    assert page.status_code == 200 and page.headers["content-type"] == "application/json"
    assert again.content == page.content
    body = AssignmentPage.model_validate(page.json())
    assert body.schedule["id"] == first["id"] and len(body.assignments) == min(5, body.total) and body.limit == 5
    other = client.get(f"/api/schedules/{first['id']}", params={"limit": 2, "offset": 1}).json()
    assert [a["start"] for a in other["assignments"]] == [a.start for a in body.assignments[1:3]]  # a different key, its own answer
    utilisation = Utilisation.model_validate(client.get(f"/api/schedules/{first['id']}/utilisation").json())
    assert utilisation.id == first["id"]
    assert client.get("/api/schedules/nope").status_code == 404
    assert client.get("/api/schedules/nope/utilisation").status_code == 404

    second = wait_for_job(client, client.post("/api/schedules", json={"horizon_hours": 168, "seed": 1}).json()["id"], timeout_s=120)
    assert second["status"] == "done", second
    # Stored by this server: the kept list is forgotten, not served for another second.
    assert sorted(p["id"] for p in client.get("/api/schedules").json()) == sorted([first["id"], second["id"]])  # same second: by id
