"""Fixtures for the service tests: an app on a temporary data dir whose default spec is the
tiny floor, and a planner (the build's own, or the serial test schedule when this build has none)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app, domain
from web_support import TINY


@pytest.fixture
def planner(monkeypatch: pytest.MonkeyPatch) -> str:
    """The planner the service will use. Until an engine lands in this build, the service's job
    machinery is exercised with the trivially valid serial schedule from tests/helpers."""
    name = domain.planner_name()
    if name is not None:
        return name
    from tests.helpers import serial_schedule

    monkeypatch.setattr(domain, "planner_name", lambda: "tests.helpers.serial_schedule")
    monkeypatch.setattr(domain, "plan", lambda problem, **options: serial_schedule(problem))
    return "tests.helpers.serial_schedule"


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    # TestClient sends `Host: testserver`; a real server answers only to the names it is configured with.
    return ServiceSettings(data_dir=tmp_path / "data", spec=TINY, workers=1, job_threads=2, allowed_hosts=["testserver"])


@pytest.fixture
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
