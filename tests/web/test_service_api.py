"""Every route of the HTTP API: specs, schedules as background jobs, views, dispatch, events,
and the error answers (one-line 422 naming the field, 404 for unknown ids)."""
from __future__ import annotations

import json

import openapi_spec_validator
import pytest
import yaml
from fastapi.testclient import TestClient

from web_support import TINY, wait_for_job
from gwf.service import ServiceSettings, create_app, work
from plant import SpecError, load_spec, orders_for, parse_spec
from scheduler.problem import build_problem
from scheduler.schedule import Schedule
from scheduler.steady import horizon_problem
from scheduler.validate import validate

TINY_TEXT = TINY.read_text()


def tiny_with(path: list, value) -> str:
    """The tiny spec with one field replaced, as YAML text."""
    raw = yaml.safe_load(TINY_TEXT)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(raw)


def planned(client: TestClient, **body) -> dict:
    response = client.post("/api/schedules", json={"horizon_hours": 168, "demand_hours": 168, **body})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "done", job
    return job


def test_health_names_the_spec_the_engines_and_the_database(client: TestClient, settings: ServiceSettings) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["spec"].endswith("tiny.yaml")
    assert (body["planner"], body["twin"]) == ("scheduler.plan", "sim.Twin")
    assert body["database"] == ("sqlite" if settings.database_url is None else "postgresql")


def test_spec_summary_counts_cells_and_demand_of_the_configured_spec(client: TestClient) -> None:
    body = client.get("/api/spec").json()
    spec = load_spec(TINY)
    summary = body["summary"]
    assert summary["cells"] == len(spec.all_cells) == sum(summary["cells_per_type"].values())
    assert summary["cells_per_type"] == {t.name: spec.cell_count(t.name) for t in spec.cell_types}
    assert summary["demand_mw"] == pytest.approx(spec.demand_mw())
    assert summary["target_mw"] == dict(spec.target.mw)
    assert body["spec"]["name"] == "tiny" and len(body["spec"]["products"]) == len(spec.products)


def test_validate_accepts_yaml_and_json(client: TestClient) -> None:
    as_yaml = client.post("/api/spec/validate", content=TINY_TEXT, headers={"content-type": "application/yaml"})
    as_json = client.post("/api/spec/validate", json=yaml.safe_load(TINY_TEXT))
    assert as_yaml.status_code == as_json.status_code == 200
    assert as_yaml.json() == as_json.json()
    assert as_yaml.json()["cells"] == 4


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["products", 0, "routing", 1, "capability"], "weld", "products[0].routing[1].capability"),
        (["cells", 2, "count"], 0, "cells[2].count"),
        (["demand", "rack"], -1, "demand.rack"),
        (["cell_types", 1, "speed"], 2, "cell_types[1].speed"),
    ],
)
def test_malformed_spec_answers_422_with_the_clis_one_line_message(client: TestClient, path, value, field) -> None:
    text = tiny_with(path, value)
    with pytest.raises(SpecError) as expected:
        parse_spec(text, source="spec")
    for response in (
        client.post("/api/spec/validate", content=text, headers={"content-type": "application/yaml"}),
        client.post("/api/schedules", json={"spec": text}),
        client.post("/api/schedules", json={"spec": yaml.safe_load(text)}),
    ):
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail == str(expected.value)
        assert detail.startswith(f"spec: {field}: ") and "\n" not in detail
        assert response.json()["field"] == "spec"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"horizon_hour": 4}, "horizon_hour: unknown field; valid: spec, horizon_hours, demand_hours, time_limit, objective, mode, availability, seed"),
        ({"horizon_hours": -1}, "horizon_hours: Input should be greater than 0"),
        ({"objective": "speed"}, "objective: Input should be 'mw' or 'makespan'"),
        ({"seed": "x", "time_limit": 0}, "time_limit: Input should be greater than 0 (and 1 more problem)"),
    ],
)
def test_bad_request_fields_answer_422_naming_the_field(client: TestClient, body, detail) -> None:
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == detail
    assert response.json()["field"] == detail.split(":")[0]


def test_a_spec_with_half_a_surrogate_pair_answers_422(client: TestClient) -> None:
    raw = yaml.safe_load(TINY_TEXT)
    raw["name"] = "\ud800"
    as_yaml = TINY_TEXT.replace("name: tiny", 'name: "\\ud800"')
    for response in (client.post("/api/spec/validate", content=json.dumps(raw), headers={"content-type": "application/json"}),
                     client.post("/api/spec/validate", content=as_yaml, headers={"content-type": "application/yaml"}),
                     client.post("/api/schedules", content=json.dumps({"spec": raw}), headers={"content-type": "application/json"})):
        assert response.status_code == 422 and response.json()["field"] == "spec"
        # JSON escapes reach the model and are named there; the YAML reader refuses the escape itself.
        assert response.json()["detail"].startswith(("spec: contains text that is not valid Unicode", "spec: not valid YAML"))


def test_body_that_is_not_json_or_not_an_object_answers_422(client: TestClient) -> None:
    broken = client.post("/api/schedules", content=b'{"horizon_hours": ', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"].startswith("body: not valid JSON at character")
    listed = client.post("/api/dispatch", json=[1, 2])
    assert listed.status_code == 422 and listed.json()["field"] == "body"
    not_utf8 = client.post("/api/spec/validate", content=b"\xff\xfe", headers={"content-type": "application/yaml"})
    assert not_utf8.json()["detail"] == "spec: the body is not UTF-8 text"
    assert client.get("/api/schedules/x?limit=0").json()["field"] == "query.limit"
    assert client.post("/api/schedules", content=b"\xff{", headers={"content-type": "application/json"}).json()["field"] == "body"
    assert client.post("/api/dispatch").json()["detail"] == "body: required; send a JSON object"


def test_unknown_ids_answer_404(client: TestClient) -> None:
    for path in ("/api/jobs/nope", "/api/schedules/nope", "/api/schedules/nope/gantt", "/api/schedules/nope/utilisation", "/api/schedules/..%2F..%2Fetc"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "\n" not in response.json()["detail"]
    response = client.post("/api/dispatch", json={"schedule_id": "nope"})
    assert response.status_code == 404 and response.json()["field"] == "schedule_id"


def test_schedule_job_runs_to_a_valid_stored_plan(client: TestClient) -> None:
    response = client.post("/api/schedules", json={"horizon_hours": 168, "demand_hours": 168, "time_limit": 2, "mode": "from-empty"})
    assert response.status_code == 202
    first = response.json()
    assert first["status"] in ("queued", "running", "done") and first["kind"] == "schedule"
    job = wait_for_job(client, first["id"])
    assert job["status"] == "done" and job["progress"]["fraction"] == 1.0 and job["error"] is None
    result = job["result"]
    assert result["schedule_id"] == job["id"] and result["planner"] == "scheduler.plan"
    assert result["gap"] is None or result["gap"] >= 0

    spec = load_spec(TINY)
    problem = build_problem(spec, orders_for(spec, 168), 168 * 3600)
    page = client.get(f"/api/schedules/{job['id']}", params={"limit": 10000}).json()
    assert page["total"] == len(problem.tasks) == result["assignments"]
    schedule = Schedule.from_dict({"assignments": page["assignments"], "horizon": 168 * 3600})
    validate(problem, schedule)  # what the API hands out is a plan the independent checker accepts
    starts = [a["start"] for a in page["assignments"]]
    assert starts == sorted(starts)
    assert [s["id"] for s in client.get("/api/schedules").json()] == [job["id"]]


PIPELINE = TINY.parent / "pipeline.yaml"  # a 6 h burn-in: a running floor has work in progress


@pytest.mark.parametrize("hours", [12, 48])
def test_schedule_job_plans_a_running_floor_by_default(client: TestClient, hours: int) -> None:
    body = {"spec": PIPELINE.read_text(), "horizon_hours": hours, "time_limit": 2}
    job = wait_for_job(client, client.post("/api/schedules", json=body).json()["id"])
    assert job["status"] == "done" and job["result"]["mode"] == "steady-state"
    carried, problem = horizon_problem(load_spec(PIPELINE), hours * 3600, hours, "steady-state")
    assert carried.pinned  # the case is only a test if work runs across the cut
    page = client.get(f"/api/schedules/{job['id']}", params={"limit": 10000}).json()
    assert page["total"] == len(problem.tasks)
    # Valid against the carried-in problem: running work pinned, finished work not re-planned.
    validate(problem, Schedule.from_dict({"assignments": page["assignments"], "horizon": hours * 3600}))


def test_assignment_filters_and_pages_partition_the_plan(client: TestClient) -> None:
    schedule_id = planned(client)["id"]
    everything = client.get(f"/api/schedules/{schedule_id}", params={"limit": 10000}).json()["assignments"]
    pages, offset = [], 0
    while True:
        page = client.get(f"/api/schedules/{schedule_id}", params={"offset": offset, "limit": 3}).json()
        pages += page["assignments"]
        offset += 3
        if offset >= page["total"]:
            break
    assert pages == everything
    by_pool = {pool: client.get(f"/api/schedules/{schedule_id}", params={"pool": pool}).json() for pool in ("arm", "cabler", "bay")}
    assert sum(p["total"] for p in by_pool.values()) == len(everything)
    assert all(a["pool"] == pool for pool, p in by_pool.items() for a in p["assignments"])
    cell = everything[0]["cell"]
    assert all(a["cell"] == cell for a in client.get(f"/api/schedules/{schedule_id}", params={"cell": cell}).json()["assignments"])
    start, end = everything[len(everything) // 2]["start"], everything[len(everything) // 2]["end"]
    window = client.get(f"/api/schedules/{schedule_id}", params={"start": start, "end": end}).json()["assignments"]
    assert window and all(a["end"] > start and a["start"] < end for a in window)
    assert len(window) == sum(1 for a in everything if a["end"] > start and a["start"] < end)


def test_utilisation_accounts_for_every_busy_second(client: TestClient) -> None:
    schedule_id = planned(client)["id"]
    everything = client.get(f"/api/schedules/{schedule_id}", params={"limit": 10000}).json()["assignments"]
    view = client.get(f"/api/schedules/{schedule_id}/utilisation", params={"buckets": 7}).json()
    assert view["buckets"] == 7 and view["bucket_s"] * 7 == pytest.approx(view["span_s"])
    for pool in view["pools"]:
        assert len(pool["busy"]) == 7 and all(0.0 <= share <= 1.0 for share in pool["busy"])
        busy_s = sum(a["end"] - a["start"] for a in everything if a["pool"] == pool["name"])
        assert sum(pool["busy"]) * pool["capacity"] * view["bucket_s"] == pytest.approx(busy_s)


def test_gantt_page_is_self_contained_html(client: TestClient) -> None:
    schedule_id = planned(client)["id"]
    response = client.get(f"/api/schedules/{schedule_id}/gantt")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text and "arm" in response.text
    assert "src=\"http" not in response.text and "href=\"http" not in response.text  # no CDN: the floor has no internet


def test_too_little_demand_answers_422_at_once(client: TestClient) -> None:
    response = client.post("/api/schedules", json={"horizon_hours": 1, "demand_hours": 0.01})
    assert response.status_code == 422 and response.json()["field"] == "demand_hours"


@pytest.mark.parametrize(("error", "expected"), [
    (ValueError("objective: 'speed' is not one of mw, makespan"), "objective: 'speed' is not one of mw, makespan"),
    (RuntimeError("CP-SAT rejected the model\nsecond line"), "RuntimeError: CP-SAT rejected the model"),
])
def test_a_failing_job_reports_one_line_and_the_server_stays_up(settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch, error, expected) -> None:
    def broken(problem, **options):
        raise error

    monkeypatch.setattr(work, "plan", broken)  # replaced in this process: planning runs in a job thread here
    with TestClient(create_app(settings.model_copy(update={"plan_in_process": False}))) as client:
        job = wait_for_job(client, client.post("/api/schedules", json={"horizon_hours": 168, "demand_hours": 168}).json()["id"])
        assert job["status"] == "failed" and job["error"] == expected and job["result"] is None
        assert client.get("/api/health").status_code == 200


def test_twin_job_reports_throughput_with_an_interval(client: TestClient) -> None:
    assert client.post("/api/twin", json={"replications": 1}).json()["field"] == "replications"
    assert client.post("/api/twin", json={"schedule_id": "nope"}).status_code == 404
    body = {"weeks": 0.5, "replications": 3, "seed": 7}
    response = client.post("/api/twin", json=body)
    assert response.status_code == 202
    report = wait_for_job(client, response.json()["id"], timeout_s=20)
    assert report["status"] == "done", report
    result = report["result"]
    assert result["replications"] == 3 and result["schedule_id"] is None
    gw = result["gw_per_week"]
    assert gw["ci_low"] <= gw["mean"] <= gw["ci_high"]
    assert set(result["mw_by_category"]) == set(load_spec(TINY).target.mw)
    again = wait_for_job(client, client.post("/api/twin", json=body).json()["id"], timeout_s=20)["result"]
    assert again["gw_per_week"] == gw  # same seed, same numbers

    schedule_id = planned(client)["id"]
    both = client.post("/api/twin", json={"schedule_id": schedule_id, "spec": TINY_TEXT})
    assert both.status_code == 422 and both.json()["field"] == "spec"
    on_plan = wait_for_job(client, client.post("/api/twin", json={"schedule_id": schedule_id, "replications": 2}).json()["id"], timeout_s=20)
    assert on_plan["status"] == "done" and on_plan["result"]["schedule_id"] == schedule_id


def test_dispatch_job_completes_every_operation_and_streams_transitions(client: TestClient) -> None:
    schedule_id = planned(client)["id"]
    operations = client.get(f"/api/schedules/{schedule_id}", params={"limit": 1}).json()["total"]
    response = client.post("/api/dispatch", json={"schedule_id": schedule_id})
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "done", job
    assert job["result"]["counts"] == {"completed": operations} and job["result"]["all_terminal"]
    events = [json.loads(line[5:]) for line in client.get("/api/events", params={"since": 0, "wait": 0.2}).text.splitlines() if line.startswith("data:")]
    dispatch_events = [e["data"] for e in events if e["kind"] == "dispatch"]
    assert dispatch_events and dispatch_events[-1]["counts"] == {"completed": operations}
    assert {t["state"] for e in dispatch_events for t in e["recent"]} <= {"underway", "completed"}

    first = client.post("/api/dispatch", json={"schedule_id": schedule_id, "first": 2})
    assert wait_for_job(client, first.json()["id"])["result"]["jobs"] == 2


def test_one_plan_is_never_dispatched_twice_at_once(settings: ServiceSettings) -> None:
    slow_cells = settings.model_copy(update={"dispatch_url": "mock://{id}?time_scale=0.002"})  # ~1 s of mock work
    with TestClient(create_app(slow_cells)) as client:
        _dispatch_one_plan_at_a_time(client)


def _dispatch_one_plan_at_a_time(client: TestClient) -> None:
    schedule_id = planned(client)["id"]
    slow = {"schedule_id": schedule_id, "first": 2}
    first = client.post("/api/dispatch", json=slow)
    second = client.post("/api/dispatch", json=slow)
    assert first.status_code == 202
    assert second.status_code == 409 and first.json()["id"] in second.json()["detail"]
    assert wait_for_job(client, first.json()["id"])["status"] == "done"
    again = client.post("/api/dispatch", json=slow)  # once it is over, the plan may be sent again (resumes)
    assert again.status_code == 202
    assert wait_for_job(client, again.json()["id"])["result"]["sent"] == 0  # the journal knows both are done


def _events(text: str) -> list[dict]:
    out, current = [], {}
    for line in text.splitlines():
        if not line:
            if "data" in current:
                out.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return out


def test_event_stream_replays_history_and_resumes_after_last_event_id(client: TestClient) -> None:
    job = planned(client)
    stream = client.get("/api/events", params={"since": 0, "limit": 3})
    assert stream.headers["content-type"].startswith("text/event-stream")
    first = _events(stream.text)
    assert len(first) == 3 and [int(e["id"]) for e in first] == [1, 2, 3]
    assert all(e["event"] == "job" and json.loads(e["data"])["data"]["id"] == job["id"] for e in first)
    resumed = _events(client.get("/api/events", params={"wait": 0.2}, headers={"Last-Event-ID": "2"}).text)
    assert int(resumed[0]["id"]) == 3
    statuses = [json.loads(e["data"])["data"]["status"] for e in resumed]
    assert statuses[-1] == "done"
    assert client.get("/api/events", params={"wait": 0.05}).text.startswith("retry:")  # nothing new: ends quietly


def test_plans_outlive_a_restart(settings: ServiceSettings) -> None:
    with TestClient(create_app(settings)) as first:
        job = planned(first)
        before = first.get(f"/api/schedules/{job['id']}", params={"limit": 10000}).json()
    with TestClient(create_app(settings)) as second:
        after = second.get(f"/api/schedules/{job['id']}", params={"limit": 10000}).json()
        assert after["assignments"] == before["assignments"]
        assert second.get(f"/api/schedules/{job['id']}/utilisation").status_code == 200


def test_openapi_documents_every_route_and_the_docs_page_loads(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/health", "/api/spec", "/api/spec/validate", "/api/schedules", "/api/schedules/{schedule_id}",
                 "/api/schedules/{schedule_id}/gantt", "/api/jobs/{job_id}", "/api/twin", "/api/dispatch", "/api/events"):
        assert path in schema["paths"], path
    assert schema["paths"]["/api/schedules"]["post"]["responses"]["422"]
    refs = _refs(schema)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schema["components"]["schemas"] for ref in refs)
    openapi_spec_validator.validate(schema)  # raises on any violation of the OpenAPI standard
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text  # served here, not from a CDN
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/").text.count("<script") == 2 and "/static/app.js" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        return {node["$ref"]} if "$ref" in node else set().union(*map(_refs, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def test_bad_default_spec_fails_at_start_with_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_with(["cells", 2, "count"], -3))
    with pytest.raises(SpecError, match=r"bad.yaml: cells\[2\]\.count: -3 is outside the allowed range \(1 ≤ value ≤ 50,000\)$"):
        create_app(ServiceSettings(spec=bad, data_dir=tmp_path))


@pytest.mark.parametrize(("objective", "value", "bound", "gap"), [("mw", 59.9, 61.25, (61.25 - 59.9) / 61.25), ("makespan", 120.0, 100.0, 20 / 120), ("mw", 3.0, 0.0, None)])
def test_gap_to_the_bound_is_never_negative_for_either_sense(objective: str, value: float, bound: float, gap) -> None:
    from gwf.service.store import StoredSchedule
    from gwf.service.views import schedule_summary

    spec = load_spec(TINY)
    plan = Schedule([], 3600, "feasible", objective, value=value, bound=bound)
    summary = schedule_summary(StoredSchedule("s", spec, plan, "", problem_given=build_problem(spec, [], 3600)))
    assert summary["gap"] == (pytest.approx(gap) if gap is not None else None)
