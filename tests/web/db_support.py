"""The two databases the service runs on, for tests: an SQLite file, and a fresh schema in the
PostgreSQL at GWF_TEST_POSTGRES_URL (started by .ci/run). Without that variable the PostgreSQL
cases skip, except on CI (CI=true), where a missing database is a failure."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

BACKENDS = ("sqlite", "postgresql")


def postgres_admin_url() -> str:
    url = os.environ.get("GWF_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("GWF_TEST_POSTGRES_URL is not set on CI: .ci/run starts PostgreSQL and sets it")
        pytest.skip("GWF_TEST_POSTGRES_URL not set (run .ci/run, or point it at a PostgreSQL)")
    return url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://", 1)


def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose tables live in a new schema of their own, dropped afterwards."""
    admin = postgres_admin_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in admin else "?"
    try:
        yield f"{admin}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def database_url_for(backend: str, tmp_path: Path) -> Iterator[str | None]:
    """None for SQLite (the service's default file in its data dir), else a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield None
    else:
        yield from fresh_postgres_schema()
