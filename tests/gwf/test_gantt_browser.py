"""The plan's Gantt in a real headless Chromium (Debian's chromium via Playwright): legend and
real dates drawn, the pool buttons do what they say, the why-panel shows a critical chain,
and a product named like an HTML tag stays text."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from plan_support import XSS, plan_queue
from tests.web.browser_support import chromium, needs_chromium, new_tab

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def gantt(tmp_path_factory) -> Path:
    return plan_queue(tmp_path_factory.mktemp("gantt")) / "gantt.html"


@pytest.fixture
def page(gantt: Path) -> Iterator[Any]:
    errors: list[str] = []
    dialogs: list[str] = []
    with chromium() as browser:
        tab = new_tab(browser, errors, dialogs)
        tab.set_viewport_size({"width": 1280, "height": 720})
        tab.goto(gantt.as_uri())
        tab.wait_for_selector("#legend .item")
        yield tab
        tab.wait_for_timeout(200)  # an injected onerror would fire by now
    assert errors == [] and dialogs == []


def test_legend_and_dates_are_drawn(page: Any, tmp_path: Path) -> None:
    legend = page.inner_text("#legend")
    for text in ("widget", XSS, "pool busy", "planned window", "horizon end", "critical chain"):
        assert text in legend
    assert page.query_selector_all("img") == []  # the product name never became an element
    assert "2026-12-07 06:00" in page.inner_text("#range") and "UTC+01:00" in page.inner_text("#range")
    ticks = page.get_attribute("#c", "data-ticks").split("|")
    assert any(t.startswith("Mon 07 Dec") or t.startswith("Tue 08 Dec") for t in ticks), ticks
    shot = tmp_path / "gantt-legend.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1280, "height": 260})
    assert shot.stat().st_size > 5_000
    keep = os.environ.get("GWF_SCREENSHOT_DIR")  # to look at it by eye
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)


def test_open_all_pools_opens_and_close_all_closes(page: Any) -> None:
    height = lambda: page.eval_on_selector("#c", "c => c.height")  # noqa: E731
    closed = height()
    page.click("#all")
    opened = height()
    page.click("#all")  # a second click must not close them again (it used to toggle)
    assert opened > closed and height() == opened
    page.click("#none")
    assert height() == closed


def test_why_panel_shows_a_critical_chain(page: Any, tmp_path: Path) -> None:
    options = page.eval_on_selector_all("#unit option", "os => os.map(o => o.value)")
    assert len(options) > 1
    page.select_option("#unit", options[1])
    page.wait_for_selector("#why", state="visible")
    assert page.inner_text("#why-title").endswith(("open", "late"))
    assert len(page.query_selector_all("#why-chain li")) >= 1
    keep = os.environ.get("GWF_SCREENSHOT_DIR")
    if keep:
        page.screenshot(path=str(Path(keep) / "gantt-why.png"))
    page.click("#why-close")
    assert page.is_hidden("#why") and page.input_value("#unit") == ""
