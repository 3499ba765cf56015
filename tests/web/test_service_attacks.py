"""The attacks of issue #12, each replayed against the service: a file written through a
`ledger=` path, a port scan and a device opened through driver URLs (in the request or in a
caller's spec), a foreign `Host` (DNS rebinding), a cross-site form post, a script in a
product name, and a server left open to the network without authentication."""
from __future__ import annotations

import base64
import hashlib
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app
from gwf.service.auth_store import issue_token, open_store
from web_support import TINY, wait_for_job

XSS = "<img src=x onerror=alert(document.domain)>"


def _plan(client: TestClient, spec: str | None = None) -> str:
    body = {"horizon_hours": 168, "time_limit": 1, **({"spec": spec} if spec is not None else {})}
    job = wait_for_job(client, client.post("/api/schedules", json=body).json()["id"])
    assert job["status"] == "done", job
    return job["id"]


def _spec_with_urls(url: str) -> str:
    raw = yaml.safe_load(TINY.read_text())
    for group in raw["cells"]:
        group["url"] = url
    return yaml.safe_dump(raw)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """An open port on loopback that records whether anyone connected."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.5)
        yield server


def _nobody_connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except socket.timeout:
        return True
    return False


@pytest.mark.parametrize("url", ["mock://{id}?ledger=LEDGER", "socket://127.0.0.1:PORT", "serial:///dev/ttyS0", None])
def test_a_dispatch_request_cannot_name_a_driver_url(client: TestClient, tmp_path: Path, listener, url) -> None:
    ledger = tmp_path / "written-by-the-caller.txt"
    schedule_id = _plan(client)
    if url is not None:
        url = url.replace("LEDGER", str(ledger)).replace("PORT", str(listener.getsockname()[1]))
    response = client.post("/api/dispatch", json={"schedule_id": schedule_id, "url": url})
    assert response.status_code == 422
    assert response.json()["detail"] == "url: unknown field; valid: schedule_id, first, timeout, down_after, carry_in"
    assert client.get("/api/jobs", params={"kind": "dispatch"}).json() == []
    assert not ledger.exists() and _nobody_connected(listener)


@pytest.mark.parametrize("url", ["mock://{id}?ledger=LEDGER", "socket://127.0.0.1:PORT", "serial:///dev/ttyS0"])
def test_a_plan_made_on_a_callers_spec_is_never_dispatched(client: TestClient, tmp_path: Path, listener, url) -> None:
    """The old `url: null` path: each cell's URL from the spec, which the caller had sent."""
    ledger = tmp_path / "written-by-the-caller.txt"
    spec = _spec_with_urls(url.replace("LEDGER", str(ledger)).replace("PORT", str(listener.getsockname()[1])))
    schedule_id = _plan(client, spec)  # planning a what-if floor is a planner's right
    response = client.post("/api/dispatch", json={"schedule_id": schedule_id})
    assert response.status_code == 422 and response.json()["field"] == "schedule_id"
    assert "not for this server's floor" in response.json()["detail"]
    assert not ledger.exists() and _nobody_connected(listener)


def test_dispatch_reaches_the_configured_floor_only(settings: ServiceSettings, tmp_path: Path) -> None:
    """The operator chooses targets when starting the server; a product name with a newline
    (sent in a caller's spec) can no longer reach the configured ledger either."""
    ledger = tmp_path / "ledger.txt"
    floor = tmp_path / "floor.yaml"
    floor.write_text(_spec_with_urls(f"mock://{{id}}?ledger={ledger}"))
    with TestClient(create_app(settings.model_copy(update={"spec": floor}))) as client:
        own = _plan(client)
        job = wait_for_job(client, client.post("/api/dispatch", json={"schedule_id": own}).json()["id"])
        assert job["status"] == "done" and job["result"]["counts"] == {"completed": job["result"]["jobs"]}
        lines = ledger.read_text().splitlines()
        assert len(lines) == job["result"]["jobs"]
        raw = yaml.safe_load(floor.read_text())
        raw["products"][0]["name"] = "rack\nINJECTED LINE"
        raw["demand"] = {"rack\nINJECTED LINE": 4, "cdu": 2}
        theirs = _plan(client, yaml.safe_dump(raw))
        assert client.post("/api/dispatch", json={"schedule_id": theirs}).status_code == 422
        assert ledger.read_text().splitlines() == lines and "INJECTED" not in ledger.read_text()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "LOCALHOST.evil.example", ""])
def test_a_foreign_host_header_is_refused(tmp_path: Path, host: str) -> None:
    """DNS rebinding: a page on evil.example re-resolved to 127.0.0.1 still says its own name."""
    with TestClient(create_app(ServiceSettings(data_dir=tmp_path, spec=TINY)), base_url="http://localhost:8000") as client:
        assert client.get("/api/spec").status_code == 200
        assert client.get("/api/spec", headers={"Host": "127.0.0.1:8000"}).status_code == 200
        assert client.get("/api/spec", headers={"Host": "[::1]:8000"}).status_code == 200
        for path in ("/api/spec", "/", "/api/health"):
            refused = client.get(path, headers={"Host": host})
            assert refused.status_code == 400 and refused.json()["field"] == "host", path
        assert client.post("/api/schedules", json={}, headers={"Host": host}).status_code == 400
        assert client.get("/api/jobs").json() == []


def test_configured_host_names_are_served(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, spec=TINY, allowed_hosts=["gwf.plant.example"])
    with TestClient(create_app(settings), base_url="http://gwf.plant.example") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 400


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example", "Content-Type": "text/plain"},
    {"Origin": "http://evil.example", "Content-Type": "application/json"},
    {"Origin": "null", "Content-Type": "text/plain"},
    {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:8001", "Content-Type": "application/json"},
])
def test_a_cross_site_post_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    """A form on another site posting through the user's browser (text/plain needs no CORS
    preflight) must not start work, even in local-development mode where no token is asked."""
    response = client.post("/api/schedules", content=b'{"horizon_hours": 8}', headers=headers)
    assert response.status_code == 403 and response.json()["field"] == "origin"
    assert client.post("/api/spec/validate", content=TINY.read_bytes(), headers=headers).status_code == 403
    assert client.get("/api/jobs").json() == []
    same_site = client.post("/api/schedules", json={"horizon_hours": 168}, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 202


def test_the_dashboard_runs_no_script_it_did_not_ship(client: TestClient) -> None:
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text and 'src="/static/app.js"' in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    app_js = client.get("/static/app.js").text
    # Markup only from string literals; everything that came from a request goes in as text.
    assert re.findall(r"innerHTML\s*=\s*[^\s'\"]", app_js) == [] and "insertAdjacentHTML" not in app_js and "document.write" not in app_js


@pytest.mark.parametrize("name", [XSS, "</script><script>alert(document.domain)</script>"])
def test_a_product_name_with_markup_cannot_run_in_the_gantt_page(client: TestClient, name: str) -> None:
    """Whatever the page does with the name, the policy runs only the page's own script: no
    inline handlers (`onerror`), and a smuggled script block is not among the hashes."""
    raw = yaml.safe_load(TINY.read_text())
    raw["products"][0]["name"] = name
    raw["demand"] = {name: 4, "cdu": 2}
    schedule_id = _plan(client, yaml.safe_dump(raw))
    page = client.get(f"/api/schedules/{schedule_id}/gantt")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src")).split()
    assert script_src[:2] == ["script-src", "'self'"] and len(script_src) <= 3 and script_src[2:] == [
        s for s in script_src[2:] if s.startswith("'sha256-")]
    smuggled = "'sha256-" + base64.b64encode(hashlib.sha256(b"alert(document.domain)").digest()).decode() + "'"
    assert smuggled not in policy
    docs = client.get("/docs")
    assert "'sha256-" in docs.headers["content-security-policy"]  # Swagger UI's one inline script, hashed


def test_listening_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^host: refusing to listen on 0\.0\.0\.0 without authentication"):
        create_app(ServiceSettings(data_dir=tmp_path, spec=TINY, host="0.0.0.0"))
    issue_token(open_store(tmp_path), "ops", "admin")
    app = create_app(ServiceSettings(data_dir=tmp_path, spec=TINY, host="0.0.0.0"))
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/api/spec").status_code == 401  # and the local-development mode never applies


def test_gwf_serve_on_all_interfaces_without_a_token_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gwf", "serve", "--host", "0.0.0.0", "--spec", str(TINY), "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gwf: error: host: refusing to listen on 0.0.0.0 without authentication; create a token first "
        "(`gwf token create --role admin --name NAME`) or listen on 127.0.0.1"]
