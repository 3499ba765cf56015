"""Who may do what. The auth matrix is built from the OpenAPI document: every operation x
every role x no token, against the rule table below (an operation missing from the table,
or declaring another role, fails). Plus tokens (hashed, revocable), the local-development
mode, the audit log and job cancellation."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gwf.service import ServiceSettings, create_app, work
from gwf.service.auth import Role
from gwf.service.auth_store import issue_token
from web_support import wait_for_job

# The access rule of every operation: the least role, or None for public. A new route must be
# added here (and declare its rule in code) or this suite fails.
RULES: dict[tuple[str, str], Role | None] = {
    ("get", "/api/health"): None,
    ("get", "/api/spec"): Role.viewer,
    ("post", "/api/spec/validate"): Role.planner,
    ("post", "/api/schedules"): Role.planner,
    ("get", "/api/schedules"): Role.viewer,
    ("get", "/api/schedules/{schedule_id}"): Role.viewer,
    ("get", "/api/schedules/{schedule_id}/utilisation"): Role.viewer,
    ("get", "/api/schedules/{schedule_id}/gantt"): Role.viewer,
    ("get", "/api/jobs"): Role.viewer,
    ("get", "/api/jobs/{job_id}"): Role.viewer,
    ("post", "/api/jobs/{job_id}/cancel"): Role.operator,
    ("post", "/api/twin"): Role.planner,
    ("post", "/api/dispatch"): Role.operator,
    ("get", "/api/events"): Role.viewer,
    ("get", "/api/auth/me"): Role.viewer,
    ("get", "/api/tokens"): Role.admin,
    ("post", "/api/tokens"): Role.admin,
    ("delete", "/api/tokens/{token_id}"): Role.admin,
    ("get", "/api/audit"): Role.admin,
}


@pytest.fixture
def secured(settings: ServiceSettings) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    """An app with one token per role (so it is not in local-development mode)."""
    app = create_app(settings)
    tokens = {role: issue_token(app.state.audit, f"{role.value}-1", role.value)[1] for role in Role}
    with TestClient(app) as client:
        yield client, tokens


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def _probe(client: TestClient, method: str, path: str, op: dict[str, Any], token: str | None) -> int:
    """Call the operation with harmless arguments: unknown ids and a body the route rejects,
    so an allowed call answers 404/422 without starting work."""
    url = path
    for param in op.get("parameters", []):
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", "nope")
    query = {"wait": "0.01"} if any(p["name"] == "wait" for p in op.get("parameters", [])) else {}
    body = {"json": {"__probe__": 1}} if "requestBody" in op else {}
    return client.request(method.upper(), url, params=query, headers=_auth(token), **body).status_code


def test_every_operation_declares_the_rule_in_the_table(secured) -> None:
    client, _ = secured
    schema = client.get("/openapi.json").json()
    declared = {}
    for method, path, op in _operations(schema):
        assert (method, path) in RULES, f"{method.upper()} {path} has no rule in this table"
        security = op.get("security")
        declared[(method, path)] = None if not security else Role(security[0]["token"][0])
        if security:
            assert security == [{"token": [declared[(method, path)].value]}]
            assert "401" in op["responses"]
    assert declared == RULES
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["token"]["description"]}


def test_auth_matrix_every_operation_every_role_and_no_token(secured) -> None:
    client, tokens = secured
    schema = client.get("/openapi.json").json()
    callers: list[Role | None] = [None, *Role]
    for method, path, op in _operations(schema):
        needed = RULES[(method, path)]
        for caller in callers:
            status = _probe(client, method, path, op, tokens[caller] if caller else None)
            where = f"{method.upper()} {path} as {caller.value if caller else 'nobody'}"
            if needed is None or (caller is not None and caller.allows(needed)):
                assert status not in (401, 403) and status < 500, (where, status)
            else:
                assert status == (401 if caller is None else 403), (where, status)


def test_a_route_without_a_rule_stops_the_app(settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import APIRouter

    from gwf.service import auth_routes

    extra = APIRouter()
    extra.get("/api/forgotten")(lambda: {})
    monkeypatch.setattr(auth_routes.router, "routes", [*auth_routes.router.routes, *extra.routes])
    with pytest.raises(RuntimeError, match=r"GET /api/forgotten"):
        create_app(settings)


def test_refusals_name_the_problem(secured) -> None:
    client, tokens = secured
    nobody = client.post("/api/schedules", json={})
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Bearer")
    assert nobody.json()["field"] == "authorization"
    viewer = client.post("/api/schedules", json={}, headers=_auth(tokens[Role.viewer]))
    assert viewer.status_code == 403
    assert viewer.json() == {"detail": "role: viewer-1 is a viewer; POST /api/schedules needs planner or higher", "field": "role"}
    forged = tokens[Role.admin][:-4] + "AAAA"
    assert client.get("/api/audit", headers=_auth(forged)).status_code == 401
    assert client.get("/api/audit", headers=_auth("gwf_nope_x")).json()["detail"] == "authorization: unknown token"


def test_tokens_are_stored_hashed_and_revocation_takes_effect_at_once(secured, settings: ServiceSettings) -> None:
    client, tokens = secured
    created = client.post("/api/tokens", json={"name": "line-2", "role": "planner"}, headers=_auth(tokens[Role.admin]))
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    secret, token_id = created.json()["token"], created.json()["id"]
    assert client.get("/api/auth/me", headers=_auth(secret)).json()["role"] == "planner"
    with client.app.state.service.db.engine.connect() as connection:  # every column of every token row, both databases
        stored = repr(connection.execute(text("SELECT * FROM tokens")).fetchall())
    assert f"'{token_id}'" in stored and hashlib.sha256(secret.encode()).hexdigest() in stored
    raw = b"".join(p.read_bytes() for p in Path(settings.data_dir).glob("*.sqlite*"))  # and the SQLite files, WAL included
    for text_form in (stored.encode(), raw):
        # the random part is all after `gwf_<id>_`: url-safe base64 may itself contain '_'
        assert secret.encode() not in text_form and secret.split("_", 2)[2].encode() not in text_form
    listed = client.get("/api/tokens", headers=_auth(tokens[Role.admin])).json()
    assert all("token" not in t and "digest" not in t for t in listed)
    assert client.delete(f"/api/tokens/{token_id}", headers=_auth(tokens[Role.admin])).json()["revoked"]
    after = client.get("/api/auth/me", headers=_auth(secret))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert client.delete("/api/tokens/nope", headers=_auth(tokens[Role.admin])).status_code == 404
    bad = client.post("/api/tokens", json={"name": "x", "role": "root"}, headers=_auth(tokens[Role.admin]))
    assert bad.status_code == 422 and bad.json()["field"] == "role"


def test_local_development_mode_until_the_first_token(settings: ServiceSettings) -> None:
    """Loopback and no token ever issued: the local administrator. Never through a proxy, never
    once a token exists (even revoked), never with require_tokens."""
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/auth/me").json()
        assert me["mode"] == "local" and me["role"] == "admin" and all(me["may"].values())
        proxied = client.get("/api/auth/me", headers={"X-Forwarded-For": "10.0.0.9"})
        assert proxied.status_code == 401 and "proxy" in proxied.json()["detail"]
        made = client.post("/api/tokens", json={"name": "first", "role": "admin"}).json()
        assert client.get("/api/auth/me").status_code == 401
        client.delete(f"/api/tokens/{made['id']}", headers=_auth(made["token"]))
        assert client.get("/api/auth/me").status_code == 401  # revoking every token never reopens the server
    strict = settings.model_copy(update={"require_tokens": True, "data_dir": Path(settings.data_dir).parent / "strict"})
    with TestClient(create_app(strict)) as client:
        assert client.get("/api/auth/me").status_code == 401


def test_every_state_changing_request_is_audited_with_who_what_and_outcome(secured) -> None:
    client, tokens = secured
    admin = _auth(tokens[Role.admin])
    job = client.post("/api/schedules", json={"horizon_hours": 168}, headers=_auth(tokens[Role.planner])).json()
    client.post("/api/dispatch", json={"schedule_id": job["id"]}, headers=_auth(tokens[Role.viewer]))
    client.post("/api/twin", json={"weeks": -1}, headers=_auth(tokens[Role.planner]))
    client.post("/api/twin", json={})
    client.get("/api/jobs", headers=admin)  # reads are not audited
    records = client.get("/api/audit", headers=admin).json()["records"]
    got = [(r["who"], r["action"], r["status"], r["outcome"], r["target"]) for r in reversed(records)]
    assert got == [
        ("planner-1", "POST /api/schedules", 202, "ok", job["id"]),
        ("viewer-1", "POST /api/dispatch", 403, "denied", None),
        ("planner-1", "POST /api/twin", 422, "refused", None),
        ("anonymous", "POST /api/twin", 401, "denied", None),
    ]
    assert records[1]["detail"] == "weeks: Input should be greater than 0" and records[1]["role"] == "planner"
    assert all(r["at"].endswith("+00:00") for r in records)
    only = client.get("/api/audit", params={"who": "viewer-1"}, headers=admin).json()
    assert only["total"] == 1 and only["records"][0]["action"] == "POST /api/dispatch"


def test_a_queued_job_cancelled_never_runs(settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    release, ran = threading.Event(), []

    def blocking(problem, **options):
        ran.append(1)
        release.wait(30)
        raise RuntimeError("released")

    monkeypatch.setattr(work, "plan", blocking)  # replaced in this process: planning runs in a job thread here
    with TestClient(create_app(settings.model_copy(update={"job_threads": 1, "plan_in_process": False}))) as client:
        first = client.post("/api/schedules", json={"horizon_hours": 168}).json()
        second = client.post("/api/schedules", json={"horizon_hours": 168}).json()
        cancelled = client.post(f"/api/jobs/{second['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["progress"]["message"] == "cancelled by local"
        release.set()
        assert wait_for_job(client, first["id"])["status"] == "failed"
        time.sleep(0.2)
        assert ran == [1] and client.get(f"/api/jobs/{second['id']}").json()["status"] == "cancelled"
        again = client.post(f"/api/jobs/{second['id']}/cancel")
        assert again.status_code == 409 and again.json()["field"] == "job_id"
        assert client.post("/api/jobs/nope/cancel").status_code == 404


def test_a_running_planning_job_stops_at_its_next_progress_step(settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[int] = []

    def searching(problem, *, progress, **options):
        for step in range(3000):  # ~30 s if nobody cancels
            steps.append(step)
            progress(0.1 + step / 4000, f"step {step}")
            time.sleep(0.01)
        raise AssertionError("the cancel flag was never seen")

    monkeypatch.setattr(work, "plan", searching)  # replaced in this process: planning runs in a job thread here
    with TestClient(create_app(settings.model_copy(update={"plan_in_process": False}))) as client:
        job = client.post("/api/schedules", json={"horizon_hours": 168}).json()
        while client.get(f"/api/jobs/{job['id']}").json()["status"] != "running" or len(steps) < 3:
            time.sleep(0.01)
        assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "running"  # asked; stops at the next step
        done = wait_for_job(client, job["id"])
        assert done["status"] == "cancelled" and done["result"] is None and done["finished"]
        seen = len(steps)
        time.sleep(0.1)
        assert len(steps) == seen < 3000  # the work really stopped
        assert client.get(f"/api/schedules/{job['id']}").status_code == 404  # nothing half-made was stored


def test_a_running_dispatch_stops_at_its_next_transition_and_resumes_later(settings: ServiceSettings) -> None:
    slow_cells = settings.model_copy(update={"dispatch_url": "mock://{id}?time_scale=0.002"})  # a 10-minute operation: 1.2 s
    with TestClient(create_app(slow_cells)) as client:
        schedule_id = wait_for_job(client, client.post("/api/schedules", json={"horizon_hours": 168}).json()["id"])["id"]
        job = client.post("/api/dispatch", json={"schedule_id": schedule_id}).json()
        while client.get(f"/api/jobs/{job['id']}").json()["status"] != "running":
            time.sleep(0.01)
        client.post(f"/api/jobs/{job['id']}/cancel")
        stopped = wait_for_job(client, job["id"])
        assert stopped["status"] == "cancelled" and stopped["progress"]["fraction"] < 1.0
        journal = sqlite3.connect(Path(settings.data_dir) / "journal.sqlite")
        states = dict(journal.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        journal.close()
        total = sum(states.values())
        assert states.get("completed", 0) < total  # it really stopped before the end
        again = wait_for_job(client, client.post("/api/dispatch", json={"schedule_id": schedule_id, "first": 1}).json()["id"], timeout_s=60)
        assert again["status"] == "done"


def test_the_audit_log_keeps_the_latest_records(tmp_path: Path, database_url: str | None) -> None:
    """A flood of refused requests must not fill the disk: the oldest records go first."""
    from gwf.service.auth_store import AuditRecord, DatabaseAuthStore
    from gwf.service.db import Database
    from gwf.service.db import database_url as url_in

    db = Database(url_in(database_url, tmp_path))
    db.migrate()
    log = DatabaseAuthStore(db, audit_keep=1500, owns_db=True)
    for n in range(1, 3001):
        log.record(AuditRecord(at=f"{n:06d}", who="anonymous", action="POST /api/twin", status=401, outcome="denied"))
    total, newest = log.list(limit=1)
    assert newest[0].at == "003000" and 1500 <= total <= 1500 + 1000  # trimmed every thousand writes
    _, oldest = log.list(limit=1, offset=total - 1)
    assert int(oldest[0].at) == 3001 - total
    log.close()
