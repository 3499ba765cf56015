"""The dashboard in a real headless Chromium against a real uvicorn server: it shows the
factory, plans the tiny floor with live progress, draws the utilisation overview and the
drill-down, dispatches to mock cells, and names a bad field inline."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from gwf.service import ServiceSettings
from plant import load_spec

from browser_support import chromium, needs_chromium, new_tab, running_server
from web_support import TINY

pytestmark = needs_chromium


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    # The operator, not the page, picks where dispatch goes: fast mock cells for this test.
    settings = ServiceSettings(data_dir=tmp_path / "data", spec=TINY, job_threads=2, dispatch_url="mock://{id}?time_scale=0.00002")
    with running_server(settings) as url:
        yield url


@pytest.fixture
def page(server_url: str) -> Iterator[Any]:
    """A fresh Chromium page on the dashboard; fails the test on any uncaught script error."""
    errors: list[str] = []
    with chromium() as browser:
        tab = new_tab(browser, errors)
        tab.goto(server_url + "/")
        tab.wait_for_selector("#spec-name:has-text('tiny')")
        yield tab
    assert errors == []


def _plan_the_tiny_week(page: Any) -> None:
    page.fill("#plan-form input[name=horizon_hours]", "168")
    page.fill("#plan-form input[name=demand_hours]", "168")
    assert page.input_value("#plan-form select[name=mode]") == "steady-state"  # a running floor unless asked
    page.click("#start-plan")
    page.wait_for_selector("#plan-job.done .status:text-is('done')")
    page.wait_for_selector("#schedule-body:not([hidden])")


def test_dashboard_plans_draws_and_dispatches(page: Any, tmp_path: Path) -> None:
    spec = load_spec(TINY)
    # The factory at a glance: one bar per cell type, target vs demand, a live feed.
    assert page.locator("#cells-chart rect").count() == len(spec.cell_types)
    assert page.locator("#mw-chart rect").count() >= len(spec.target.mw)
    page.wait_for_selector("#chip-live:text-is('live')")

    # A schedule started from the form runs to done and is drawn.
    _plan_the_tiny_week(page)
    kpis = page.inner_text("#kpis")
    assert "operations" in kpis and "20" in kpis  # tiny: 4 racks x 4 + 2 CDUs x 2 operations
    heat = page.locator("#util-chart rect")
    assert heat.count() == len(spec.cell_types) * 96
    busiest = page.evaluate("""() => {
        const rects = [...document.querySelectorAll('#util-chart rect')];
        return rects.findIndex(r => !r.getAttribute('fill').startsWith('hsl(210,'));
    }""")
    assert busiest >= 0, "no busy slice drawn"
    heat.nth(busiest).click()
    page.wait_for_selector("#drill:not([hidden])")
    assert page.locator("#drill-chart rect").count() >= 1
    assert "operations between" in page.inner_text("#drill-title")

    # Dispatch the plan to the server's (mock) cells; counts and transitions arrive live.
    assert page.locator("#dispatch-form input[name=url]").count() == 0  # the page never names a target
    page.click("#start-dispatch")
    page.wait_for_selector("#dispatch-job.done .status:text-is('done')")
    page.wait_for_selector("#transitions td.state-completed")
    counts = page.text_content("#dispatch-counts") or ""
    assert "completed" in counts and "20" in counts

    # A bad field is named inline and the input is marked.
    page.fill("#plan-form input[name=horizon_hours]", "-1")
    page.click("#start-plan")
    page.wait_for_selector("[data-error-for=plan]:has-text('horizon_hours: Input should be greater than 0')")
    assert "invalid" in (page.get_attribute("#plan-form input[name=horizon_hours]", "class") or "")

    # A reloaded page shows the latest jobs and their results again.
    page.reload()
    page.wait_for_selector("#dispatch-job.done .status:text-is('done')")
    page.wait_for_selector("#plan-job.done")
    assert "20" in (page.text_content("#dispatch-counts") or "")
    page.wait_for_selector("#schedule-body:not([hidden])")

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("GWF_DASHBOARD_SCREENSHOT"):  # keep a copy to look at
        page.screenshot(path=os.environ["GWF_DASHBOARD_SCREENSHOT"], full_page=True)


def test_api_docs_render_without_internet(page: Any, server_url: str) -> None:
    """Swagger UI comes from the installed bundle (this browser cannot reach any CDN)."""
    page.goto(server_url + "/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 10
    assert "/api/schedules" in page.inner_text("body")


def test_dashboard_runs_the_twin_on_a_plan(page: Any) -> None:
    """Throughput against the target with intervals and time shares."""
    spec = load_spec(TINY)
    _plan_the_tiny_week(page)
    page.fill("#twin-form input[name=weeks]", "0.5")
    page.fill("#twin-form input[name=replications]", "3")
    page.check("#twin-form input[name=on_plan]")
    page.click("#start-twin")
    page.wait_for_selector("#twin-job.done .status:text-is('done')")
    page.wait_for_selector("#twin-result:not([hidden])")
    assert page.locator("#twin-chart rect").count() >= len(spec.target.mw)
    verdict = page.inner_text("#twin-verdict")
    # A plan executed by the twin: delivered against planned, with the interval.
    assert "GW/week (95% CI" in verdict and "planned" in verdict and verdict.startswith("plan ")
    assert page.locator("#twin-shares rect").count() >= len(spec.cell_types)
