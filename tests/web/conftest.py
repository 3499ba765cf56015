"""Fixtures for the service tests: an app on a temporary data dir whose default spec is the
tiny floor, on each database the service supports (SQLite file, PostgreSQL)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from db_support import BACKENDS, database_url_for
from gwf.service import ServiceSettings, create_app
from web_support import TINY


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    yield from database_url_for(request.param, tmp_path)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> ServiceSettings:
    # A generous client budget: these tests are about the routes, test_service_limits about the budget.
    # TestClient sends `Host: testserver`; a real server answers only to the names it is configured with.
    return ServiceSettings(data_dir=tmp_path / "data", spec=TINY, workers=1, job_threads=2, database_url=database_url,
                           client_rate=1000, client_burst=1000, allowed_hosts=["testserver"])


@pytest.fixture
def client(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
