"""Nothing is lost on restart: real `gwf serve` processes killed with SIGKILL mid-job. The job
that was running is re-queued (then marked interrupted once its attempts are spent), the one
that was queued runs, and every stored plan reads back unchanged. A damaged plan is reported
alone. Two servers on one PostgreSQL run each of 100 queued jobs exactly once."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from db_support import fresh_postgres_schema
from gwf.service.db import Database, database_url
from gwf.service.db.tables import JobRow, PlanRow
from gwf.service.events import EventBus
from gwf.service.jobs import JobRunner
from plant import DEFAULT_CATALOG, load_spec
from scheduler.schedule import Schedule
from scheduler.steady import horizon_problem
from scheduler.validate import validate
from serve_support import Served
from web_support import TINY, wait_for_job

# Two weeks of the 1 GW catalog on the twin: a job that is surely still running when killed.
LONG_TWIN = {"spec": DEFAULT_CATALOG.read_text(), "weeks": 2, "replications": 2}
TINY_PLAN = {"horizon_hours": 24, "time_limit": 1, "mode": "from-empty"}


def _plans(server: Served) -> dict[str, list]:
    return {s["id"]: server.client.get(f"/api/schedules/{s['id']}", params={"limit": 10000}).json()["assignments"]
            for s in server.client.get("/api/schedules").json()}


def test_sigkill_mid_job_loses_nothing(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    settings = {"job_threads": 1, "job_attempts": 2, "database_url": database_url}
    first = Served(data, TINY, **settings)
    try:
        planned = first.wait_job(first.client.post("/api/schedules", json=TINY_PLAN).json()["id"])
        assert planned["status"] == "done", planned
        before = _plans(first)
        long_id = first.client.post("/api/twin", json=LONG_TWIN).json()["id"]
        assert first.wait_job(long_id, until=("running",))["status"] == "running"
        queued_id = first.client.post("/api/schedules", json=TINY_PLAN).json()["id"]
        assert first.client.get(f"/api/jobs/{queued_id}").json()["status"] == "queued"  # the one worker is busy
    finally:
        first.kill()

    second = Served(data, TINY, **settings)
    try:
        job = second.client.get(f"/api/jobs/{long_id}").json()
        assert job["status"] in ("queued", "running") and job["error"] is None
        assert second.wait_job(long_id, until=("running",))["status"] == "running"  # oldest first: it runs again
        events = second.client.get("/api/events", params={"since": 0, "wait": 0.3}).text
        assert "re-queued: the server running it stopped (attempt 1 of 2)" in events
        assert second.client.get(f"/api/jobs/{queued_id}").json()["status"] == "queued"
    finally:
        second.kill()

    third = Served(data, TINY, **settings)
    try:
        job = third.client.get(f"/api/jobs/{long_id}").json()
        assert job["status"] == "interrupted"
        assert job["error"].startswith("interrupted: the server running it stopped during each of 2 attempts")
        done = third.wait_job(queued_id)
        assert done["status"] == "done", done  # queued through two kills, then run
        after = _plans(third)
        assert set(after) == set(before) | {queued_id}
        assert all(after[plan_id] == assignments for plan_id, assignments in before.items())
        spec = load_spec(TINY)
        for plan_id, assignments in after.items():
            _, problem = horizon_problem(spec, 24 * 3600, 24, "from-empty")
            validate(problem, Schedule.from_dict({"assignments": assignments, "horizon": 24 * 3600}))
    finally:
        third.stop()


def test_a_damaged_plan_is_reported_alone(client) -> None:
    ids = [client.post("/api/schedules", json={**TINY_PLAN, "seed": seed}).json()["id"] for seed in (1, 2, 3)]
    assert all(wait_for_job(client, job_id)["status"] == "done" for job_id in ids)
    db = client.app.state.service.db
    with db.session() as session:  # as a disk fault or a half-finished copy would leave it
        body = session.scalar(select(PlanRow.body).where(PlanRow.id == ids[1]))
        session.execute(update(PlanRow).where(PlanRow.id == ids[1]).values(body=body[: len(body) // 2]))
    client.app.state.service.store._cache.clear()  # read it back as a restarted server would
    listed = client.get("/api/schedules")
    assert listed.status_code == 200 and sorted(s["id"] for s in listed.json()) == sorted(ids)
    damaged = client.get(f"/api/schedules/{ids[1]}")
    assert damaged.status_code == 500 and damaged.json()["field"] == "schedule_id"
    assert f"plan '{ids[1]}' is damaged in storage" in damaged.json()["detail"]
    for good in (ids[0], ids[2]):
        assert client.get(f"/api/schedules/{good}").status_code == 200
        assert client.get(f"/api/schedules/{good}/utilisation").status_code == 200


def test_two_servers_on_one_postgresql_run_each_of_100_jobs_exactly_once(tmp_path: Path) -> None:
    url = next(schema := fresh_postgres_schema())
    try:
        db = Database(database_url(url, tmp_path))
        db.migrate()
        queue = JobRunner(db, EventBus(), {}, max_queued=1000)  # never started: it only fills the queue
        # 50 weeks x 5 replications of the tiny floor: a job of about a tenth of a second.
        ids = [queue.submit("twin", {"spec": "default", "schedule_id": None, "weeks": 50, "replications": 5, "seed": k})["id"]
               for k in range(100)]
        servers: list[Served] = []
        starters = [threading.Thread(target=lambda d=d: servers.append(Served(tmp_path / d, TINY, database_url=url, job_threads=2)))
                    for d in ("a", "b")]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        try:
            for job_id in ids:
                assert servers[0].wait_job(job_id)["status"] == "done"
        finally:
            for server in servers:
                server.stop()
        with db.session() as session:
            rows = session.scalars(select(JobRow).where(JobRow.id.in_(ids))).all()
        assert len(rows) == 100 and all(row.status == "done" for row in rows)
        assert all(row.attempts == 1 for row in rows)  # claimed once each: a second claim would count 2
        owners = {row.owner for row in rows}
        assert len(owners) == 2, owners  # both servers took a share
        db.dispose()
    finally:
        next(schema, None)
