"""The dashboard in a real headless Chromium with tokens issued: sign-in, controls limited to
the role (and the server refusing the rest), the admin's audit view, and a product and spec
named with markup that the page shows as text and never runs, here and in the Gantt page."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from gwf.service import ServiceSettings, work
from gwf.service.auth import Role
from gwf.service.auth_store import issue_token, open_store

from browser_support import chromium, needs_chromium, new_tab, running_server
from web_support import TINY

pytestmark = needs_chromium
XSS = "<img src=x onerror=alert(document.domain)>"
SECTIONS = {"plan": Role.planner, "twin": Role.planner, "dispatch": Role.operator, "admin": Role.admin}


@pytest.fixture
def tokens_and_url(tmp_path: Path) -> Iterator[tuple[dict[Role, str], str]]:
    data = tmp_path / "data"
    store = open_store(data)
    tokens = {role: issue_token(store, f"{role.value}-anna", role.value)[1] for role in Role}
    settings = ServiceSettings(data_dir=data, spec=TINY, job_threads=2, dispatch_url="mock://{id}?time_scale=0.00002")
    with running_server(settings) as url:
        yield tokens, url


@pytest.fixture
def dashboard(tokens_and_url) -> Iterator[tuple[Any, dict[Role, str]]]:
    """The dashboard in a fresh Chromium tab, not signed in; fails on any uncaught script error."""
    tokens, url = tokens_and_url
    errors: list[str] = []
    with chromium() as browser:
        page = new_tab(browser, errors)
        page.goto(url + "/")
        yield page, tokens
    assert errors == []


def _sign_in(page: Any, token: str) -> None:
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("#signin-form input[name=token]", token)
    page.click("#sign-in")
    page.wait_for_selector("#main:not([hidden])")
    page.wait_for_selector("#spec-name:has-text('tiny')")


def test_sign_in_shows_only_what_the_role_may_do(dashboard) -> None:
    page, tokens = dashboard
    page.wait_for_selector("#signin:not([hidden])")
    assert page.is_hidden("#main")
    page.fill("#signin-form input[name=token]", tokens[Role.admin][:-3] + "xyz")
    page.click("#sign-in")
    page.wait_for_selector("[data-error-for=signin]:has-text('unknown token')")
    assert page.evaluate("sessionStorage.getItem('gwf-token')") is None

    for role in Role:
        _sign_in(page, tokens[role])
        assert page.inner_text("#who") == f"{role.value}-anna · {role.value}"
        for section, needed in SECTIONS.items():
            assert page.is_visible(f"#{section}") == role.allows(needed), (role, section)
        assert page.is_visible("#schedule") and page.is_visible("#glance")
        page.wait_for_selector("#chip-live:text-is('live')")  # the live feed carries the token
        if role is Role.planner:
            page.fill("#plan-form input[name=horizon_hours]", "168")
            page.click("#start-plan")
            page.wait_for_selector("#plan-job.done")
            page.wait_for_selector("#schedule-body:not([hidden])")
        if role is Role.operator:
            # A new tab could not carry the token: the Gantt page is fetched with it and saved.
            page.wait_for_selector("#gantt-link:not([hidden])")
            with page.expect_download() as download:
                page.click("#gantt-link")
            saved = Path(download.value.path()).read_text()
            assert download.value.suggested_filename.startswith("gantt-") and "<canvas" in saved
        if role is Role.viewer:
            # The server refuses what the page hides, whatever the page does.
            status = page.evaluate("""async () => (await fetch('/api/schedules', {method: 'POST',
                headers: {'content-type': 'application/json', ...authHeaders()}, body: '{}'})).status""")
            assert status == 403
        if role is Role.admin:
            page.wait_for_selector("#audit tbody tr")
            audit = page.inner_text("#audit")
            assert "planner-anna" in audit and "POST /api/schedules" in audit and "202 ok" in audit
            assert "viewer-anna" in audit and "403 denied" in audit
            page.fill("#token-form input[name=name]", "night-shift")
            page.select_option("#token-form select[name=role]", "operator")
            page.click("#create-token")
            page.wait_for_selector("#new-token:has-text('gwf_')")
            page.wait_for_selector("#tokens td:text-is('night-shift')")
        page.click("#sign-out")
        page.wait_for_selector("#signin:not([hidden])")
        assert page.evaluate("sessionStorage.getItem('gwf-token')") is None


def test_cancel_is_offered_to_operators_and_stops_the_job(dashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    def long_twin(spec, *, progress, replications, **options):  # the server runs in this process
        for done in range(3000):  # ~30 s unless cancelled
            progress(done / 3000, f"replication {done}/{replications}")
            time.sleep(0.01)
        raise AssertionError("never cancelled")

    monkeypatch.setattr(work, "run_twin", long_twin)
    page, tokens = dashboard
    _sign_in(page, tokens[Role.operator])
    page.click("#start-twin")
    page.wait_for_selector("#twin-job .cancel:visible")
    page.click("#twin-job .cancel")
    page.wait_for_selector("#twin-job.cancelled .status:text-is('cancelled')")
    assert "cancelled by operator-anna" in page.inner_text("#twin-job")
    assert page.is_hidden("#twin-job .cancel")


def test_markup_in_names_is_shown_as_text_and_never_runs(tmp_path: Path) -> None:
    raw = yaml.safe_load(TINY.read_text())
    raw["name"] = XSS
    raw["products"][0]["name"] = XSS
    raw["demand"] = {XSS: 4, "cdu": 2}
    spec = tmp_path / "xss.yaml"
    spec.write_text(yaml.safe_dump(raw))
    errors: list[str] = []
    dialogs: list[str] = []
    settings = ServiceSettings(data_dir=tmp_path / "data", spec=spec, job_threads=2)
    with running_server(settings) as url, chromium() as browser:
        page = new_tab(browser, errors, dialogs)
        page.goto(url + "/")
        page.wait_for_selector("#main:not([hidden])")  # local-development mode: no tokens issued
        page.wait_for_selector(f"#spec-name:has-text('{XSS}')")
        page.fill("#plan-form input[name=horizon_hours]", "168")
        page.click("#start-plan")
        page.wait_for_selector("#plan-job.done")
        page.wait_for_selector("#schedule-body:not([hidden])")
        busiest = page.evaluate("""() => [...document.querySelectorAll('#util-chart rect')]
            .findIndex(r => !r.getAttribute('fill').startsWith('hsl(210,'))""")
        page.locator("#util-chart rect").nth(busiest).click()
        page.wait_for_selector("#drill:not([hidden])")
        titles = page.evaluate("() => [...document.querySelectorAll('#drill-chart title')].map(t => t.textContent)")
        assert any(XSS in title for title in titles)  # the name, as text
        assert page.locator("img").count() == 0
        schedule_id = page.input_value("#schedule-picker")

        gantt = new_tab(browser, errors, dialogs)
        gantt.goto(f"{url}/api/schedules/{schedule_id}/gantt")
        gantt.wait_for_selector("#legend span")  # the page's own (hashed) script ran
        gantt.wait_for_timeout(300)
    assert dialogs == []  # neither page ran the name's script
    assert errors == []
