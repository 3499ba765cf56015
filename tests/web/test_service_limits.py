"""Hostile input is cheap to refuse: each attack from issue #12 answers a one-line 4xx naming
what is wrong, before any work is done, and the server keeps answering others."""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app, views
from gwf.service.auth_store import issue_token
from plant.spec import FactorySpec
from web_support import TINY

TINY_RAW = yaml.safe_load(TINY.read_text())
JSON = {"content-type": "application/json"}
YAML = {"content-type": "application/yaml"}
HOSTS = ["testserver"]  # the name TestClient sends in Host


def _never_built(*args, **kwargs):
    raise AssertionError("the spec was built (or its cells made): the limit must refuse the request before that work")


def _tiny(**changes) -> dict:
    raw = json.loads(json.dumps(TINY_RAW))
    for path, value in changes.items():
        node = raw
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key) if key.isdigit() else key]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return raw


@pytest.mark.parametrize("count", [3_000_000, 2**63])
def test_a_small_spec_asking_for_millions_of_cells_is_refused_before_it_is_built(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    text = yaml.safe_dump(_tiny(**{"cells.0.count": count}))
    assert len(text) < 1200
    monkeypatch.setattr(FactorySpec, "all_cells", property(_never_built))  # the costly part: one object per cell
    for response in (client.post("/api/spec/validate", content=text, headers=YAML),
                     client.post("/api/spec/validate", content=json.dumps(_tiny(**{"cells.0.count": count})), headers=JSON),
                     client.post("/api/schedules", json={"spec": text}),
                     client.post("/api/twin", json={"spec": _tiny(**{"cells.0.count": count})})):
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("spec: cells[0].count: ")
        assert response.json()["field"] == "spec"
    assert client.get("/api/jobs").json() == []


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [500, 5000])
def test_deep_nesting_answers_422_not_500(client: TestClient, depth: int) -> None:
    deep_json = '{"name": "x", "products": ' + _nested(depth) + "}"
    deep_yaml = "name: x\nproducts: " + _nested(depth) + "\n"
    block = min(depth, 500)  # indented YAML this deep is already ~250 kB
    block_yaml = "".join(f"{' ' * i}k{i}:\n" for i in range(block)) + f"{' ' * block}v\n"
    for response in (client.post("/api/spec/validate", content=deep_json, headers=JSON),
                     client.post("/api/spec/validate", content=deep_yaml, headers=YAML),
                     client.post("/api/spec/validate", content=block_yaml, headers=YAML),
                     client.post("/api/schedules", json={"spec": deep_yaml}),
                     client.post("/api/schedules", content='{"spec": ' + deep_json + "}", headers=JSON)):
        assert response.status_code == 422, response.text
        assert "\n" not in response.json()["detail"]
        assert response.json()["field"] in ("spec", "body")


def test_a_yaml_alias_bomb_is_refused_before_it_is_built(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A billion values from 300 bytes: aliases expand by reference, so counting them must not expand them."""
    monkeypatch.setattr(FactorySpec, "model_validate", _never_built)
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    for response in (client.post("/api/spec/validate", content=bomb, headers=YAML), client.post("/api/schedules", json={"spec": bomb})):
        assert response.status_code == 422 and response.json()["field"] == "spec", response.text


@pytest.fixture
def small_body_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(data_dir=tmp_path, spec=TINY, max_body_bytes=64 * 1024, allowed_hosts=HOSTS))) as client:
        yield client


def test_a_50_mb_body_is_refused_while_it_arrives(small_body_client: TestClient) -> None:
    declared = small_body_client.post("/api/spec/validate", content=b"x" * (50 << 20), headers=YAML)
    assert declared.status_code == 413 and declared.json()["field"] == "body"
    # Chunked, with no Content-Length: the limit must count what arrives. The test client
    # buffers whole bodies, so the app is driven as the server drives it, chunk by chunk.
    app, pulled, sent = small_body_client.app, [0], []

    async def receive() -> dict:
        pulled[0] += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled[0] < 800}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/spec/validate", "raw_path": b"/api/spec/validate", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/yaml"), (b"transfer-encoding", b"chunked"), (b"host", b"testserver")],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {}, "app": app}
    small_body_client.portal.call(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["detail"].startswith("body: larger than 65536 bytes")
    assert pulled[0] <= 2, "the server read on past the limit"
    assert small_body_client.get("/api/health").status_code == 200


@pytest.mark.parametrize("route", ["/api/spec/validate", "/api/schedules", "/api/twin", "/api/dispatch"])
def test_a_cross_site_form_post_is_refused(client: TestClient, route: str) -> None:
    """A page elsewhere can post text/plain (or a form) without the browser asking first;
    such a body never reaches a route."""
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = client.post(route, content=json.dumps({"horizon_hours": 1}), headers={"content-type": media})
        assert response.status_code == 415, (media, response.text)
        assert response.json()["field"] == "content-type" and "application/json" in response.json()["detail"]
    assert client.post(route, content=b"{}").status_code == 415  # a body must say what it is
    assert client.get("/api/jobs").json() == []


def test_yaml_is_accepted_only_where_a_route_reads_it(client: TestClient) -> None:
    assert client.post("/api/spec/validate", content=TINY.read_text(), headers=YAML).status_code == 200
    assert client.post("/api/schedules", content="horizon_hours: 1\n", headers=YAML).status_code == 415


def test_too_much_demand_for_one_plan_is_refused_before_planning(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "spec_summary", _never_built)
    huge = client.post("/api/schedules", json={"spec": _tiny(**{"demand.rack": 10_000_000}), "time_limit": 1})
    assert huge.status_code == 422 and huge.json()["detail"].startswith("spec: demand.rack: ")
    many = client.post("/api/schedules", json={"spec": _tiny(**{"demand.rack": 900_000}), "time_limit": 1, "horizon_hours": 168})
    assert many.status_code == 422 and many.json()["field"] == "demand_hours"
    assert "at most 300000 in one plan" in many.json()["detail"]
    assert client.get("/api/jobs").json() == []


def test_a_twin_run_longer_than_the_cap_is_refused(client: TestClient) -> None:
    response = client.post("/api/twin", json={"weeks": 52, "replications": 1000})
    assert response.status_code == 422 and response.json()["field"] == "replications"
    assert "52 weeks x 1000 replications" in response.json()["detail"]
    assert client.get("/api/jobs").json() == []


@pytest.fixture
def queue_client(tmp_path: Path, database_url: str | None) -> Iterator[TestClient]:
    settings = ServiceSettings(data_dir=tmp_path, spec=TINY, job_threads=1, max_queued_jobs=5, client_rate=1000, client_burst=1000, allowed_hosts=HOSTS,
                               database_url=database_url)
    with TestClient(create_app(settings)) as client:
        client.app.state.service.runner.shutdown()  # nothing leaves the queue: the test is about its bound
        yield client


def test_fifty_concurrent_plan_requests_fill_the_queue_and_the_rest_get_429(queue_client: TestClient) -> None:
    answers: list = []
    lock = threading.Lock()

    def ask() -> None:
        response = queue_client.post("/api/schedules", json={"horizon_hours": 168, "time_limit": 1})
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert len(accepted) == 5 and len(refused) == 45, sorted(r.status_code for r in answers)
    assert all(int(r.headers["retry-after"]) >= 1 and "waiting" in r.json()["detail"] for r in refused)
    assert sorted(j["id"] for j in queue_client.get("/api/jobs").json()) == sorted(r.json()["id"] for r in accepted)


@pytest.fixture
def budget_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(data_dir=tmp_path, spec=TINY, client_rate=0.01, client_burst=3, allowed_hosts=HOSTS)
    with TestClient(create_app(settings)) as client:
        yield client


def test_each_client_has_its_own_budget_of_state_changing_requests(budget_client: TestClient) -> None:
    one, two = (issue_token(budget_client.app.state.audit, name, "planner")[1] for name in ("one", "two"))
    mine = {"authorization": f"Bearer {one}", **YAML}
    codes = [budget_client.post("/api/spec/validate", content=TINY.read_text(), headers=mine).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = budget_client.post("/api/spec/validate", content=TINY.read_text(), headers=mine)
    assert int(refused.headers["retry-after"]) >= 1
    other = budget_client.post("/api/spec/validate", content=TINY.read_text(), headers={"authorization": f"Bearer {two}", **YAML})
    assert other.status_code == 200
    assert all(budget_client.get("/api/health").status_code == 200 for _ in range(10))  # reads are not budgeted
    guesses = [budget_client.post("/api/spec/validate", content="x", headers={"authorization": f"Bearer guess{k}", **YAML}).status_code
               for k in range(12)]
    assert guesses[-1] == 429  # made-up tokens spend the address's budget (4 clients' worth), then stop


def test_spec_checking_runs_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    summary = views.spec_summary

    def recording(spec):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return summary(spec)

    monkeypatch.setattr(views, "spec_summary", recording)
    assert client.post("/api/spec/validate", content=TINY.read_text(), headers=YAML).status_code == 200
    assert seen == ["worker thread"]


def test_405_says_which_methods_are_allowed(client: TestClient) -> None:
    response = client.delete("/api/health")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    both = client.request("PUT", "/api/schedules")  # two routes share the path: both methods are listed
    assert both.status_code == 405 and {"GET", "POST"} <= set(both.headers["allow"].split(", "))
