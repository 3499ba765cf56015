"""The dashboard's dispatch options in a real headless Chromium against a real uvicorn server:
`down_after` out of range is named inline with its range (the API's 422), a good value and the
carry-in rule reach the dispatch run."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from gwf.service import ServiceSettings

from browser_support import chromium, needs_chromium, new_tab, running_server
from web_support import TINY

pytestmark = needs_chromium


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    settings = ServiceSettings(data_dir=tmp_path / "data", spec=TINY, job_threads=2, dispatch_url="mock://{id}?time_scale=0.00002")
    errors: list[str] = []
    with running_server(settings) as url, chromium() as browser:
        tab = new_tab(browser, errors)
        tab.goto(url + "/")
        tab.wait_for_selector("#spec-name:has-text('tiny')")
        yield tab
    assert errors == []


def test_down_after_is_checked_inline_and_reaches_the_run(page: Any) -> None:
    page.fill("#plan-form input[name=horizon_hours]", "168")
    page.fill("#plan-form input[name=demand_hours]", "168")
    page.click("#start-plan")
    page.wait_for_selector("#plan-job.done .status:text-is('done')")

    page.fill("#dispatch-form input[name=down_after]", "7200")
    page.click("#start-dispatch")
    page.wait_for_selector("[data-error-for=dispatch]:has-text('down_after: must be between 0 and 3600 seconds')")
    assert "invalid" in (page.get_attribute("#dispatch-form input[name=down_after]", "class") or "")

    page.fill("#dispatch-form input[name=down_after]", "5")
    page.select_option("#dispatch-form select[name=carry_in]", "send")
    with page.expect_response(lambda r: r.url.endswith("/api/dispatch") and r.request.method == "POST") as answer:
        page.click("#start-dispatch")
    assert answer.value.status == 202
    sent = answer.value.request.post_data_json
    assert sent["down_after"] == 5 and sent["carry_in"] == "send"
    page.wait_for_selector("#dispatch-job.done .status:text-is('done')")
    job = page.evaluate("id => fetch('/api/jobs/' + id).then(r => r.json())", answer.value.json()["id"])
    assert job["result"]["down_after"] == 5 and job["result"]["carry_in"]["rule"] == "send"
