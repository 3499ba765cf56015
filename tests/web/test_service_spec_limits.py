"""The service refuses specs beyond plant.limits with 422 naming the field, whichever way the
spec arrives (JSON whose depth would crash the recursive decoder, YAML, or inside a request)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app
from web_support import TINY


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    app = create_app(ServiceSettings(data_dir=tmp_path_factory.mktemp("limits"), spec=TINY, allowed_hosts=["testserver"]))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("depth", [40, 5000])
def test_deep_json_answers_422_not_500(client, depth):
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/api/spec/validate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail == "spec: name" + "[0]" * 31 + ": nesting deeper than 32 levels at character 40 (allowed: at most 32)"


def test_deep_yaml_and_alias_bombs_answer_422(client):
    deep = "a: " + "[" * 600 + "]" * 600
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    for text, words in ((deep, "nesting deeper than 32 levels"), (bomb, "more than 500,000 values once its aliases are expanded")):
        response = client.post("/api/spec/validate", content=text, headers={"content-type": "application/yaml"})
        assert response.status_code == 422, response.text
        assert words in response.json()["detail"]
