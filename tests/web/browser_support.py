"""A real uvicorn server and a real headless Chromium (Debian's, driven by Playwright) for the
dashboard tests; Playwright's own browser download is never used."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import uvicorn

from gwf.service import ServiceSettings, create_app

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a sandboxed CI box without a GPU or internet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium (CI installs it)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(settings: ServiceSettings) -> Iterator[str]:
    """The app on uvicorn on a free loopback port; stops it (and its live streams) after."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.service.bus.close()  # ends the pages' live-event streams so uvicorn stops at once
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser: Any, errors: list[str], dialogs: list[str] | None = None) -> Any:
    """A page that records uncaught script errors (and any alert/confirm/prompt)."""
    tab = browser.new_page(viewport={"width": 1300, "height": 1200})
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    if dialogs is not None:
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.set_default_timeout(30_000)
    return tab
