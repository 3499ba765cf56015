"""Random request bodies never make the service answer 500: every route answers with an
accepted job or a one-line 4xx that names a field."""
from __future__ import annotations

import copy
import json
from typing import Any, Iterator

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings, strategies as st

from web_support import TINY
from gwf.service import ServiceSettings, create_app

ROUTES = ("/api/schedules", "/api/twin", "/api/dispatch", "/api/spec/validate")
FIELDS = ("spec", "horizon_hours", "demand_hours", "time_limit", "objective", "seed", "weeks", "replications", "schedule_id", "url", "first", "timeout")
TINY_RAW = yaml.safe_load(TINY.read_text())

scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
request_like = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)


@pytest.fixture(scope="module")
def quiet_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose accepted jobs are recorded, not run: this test is about parsing input."""
    app = create_app(ServiceSettings(data_dir=tmp_path_factory.mktemp("fuzz"), spec=TINY, client_rate=10_000, client_burst=10_000, allowed_hosts=["testserver"]))
    runner = app.state.service.runner
    accepted = {"id": "fuzz", "kind": "fuzz", "status": "queued", "progress": {"fraction": 0.0, "message": "queued"},
                "params": {}, "result": None, "error": None, "created": "", "started": None, "finished": None}
    runner.submit = lambda kind, params, payload=None, **options: {**accepted, "kind": kind}  # type: ignore[method-assign]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _check(response: Any) -> None:
    assert response.status_code in (200, 202, 404, 422), (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["detail"], str) and body["detail"] and "\n" not in body["detail"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=json_values | request_like)
def test_random_json_bodies_never_answer_500(quiet_client: TestClient, route: str, body: Any) -> None:
    _check(quiet_client.post(route, content=json.dumps(body), headers={"content-type": "application/json"}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=64))
def test_random_bytes_never_answer_500(quiet_client: TestClient, route: str, raw: bytes) -> None:
    _check(quiet_client.post(route, content=raw, headers={"content-type": "application/json"}))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


SPEC_PATHS = _paths(TINY_RAW)
# Values a spec file can really hold: standard JSON (no Infinity/NaN tokens, which YAML reads
# as strings and JSON as numbers) and text without lone surrogates (not encodable as UTF-8).
spec_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
spec_scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False) | spec_text
spec_values = st.recursive(spec_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(spec_text, inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(SPEC_PATHS), value=spec_values)
@example(path=("cells", 1, "count"), value=16280300)  # once accepted: the service built 16 million cells (issue #10)
@example(path=("demand", "rack"), value=10**12)
def test_a_spec_with_one_random_field_is_accepted_or_named(quiet_client: TestClient, path: tuple, value: Any) -> None:
    raw = copy.deepcopy(TINY_RAW)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    text = json.dumps(raw)
    response = quiet_client.post("/api/spec/validate", content=text, headers={"content-type": "application/json"})
    _check(response)
    if response.status_code == 422:
        assert response.json()["detail"].startswith("spec: ")
    also = quiet_client.post("/api/schedules", content=json.dumps({"spec": raw}), headers={"content-type": "application/json"})
    _check(also)
    spec_rejected = also.status_code == 422 and also.json()["field"] == "spec"
    assert spec_rejected == (response.status_code == 422)  # one judge of specs for every route
