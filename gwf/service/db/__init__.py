"""The service's database: an embedded SQLite file in the data directory by default, PostgreSQL
when `GWF_DATABASE_URL` points at one. The schema is brought up to date by the Alembic
migrations shipped in this package every time the service starts."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x67776600  # a PostgreSQL advisory lock: servers starting together migrate one at a time


def database_url(url: str | None, data_dir: Path) -> str:
    """The configured URL, or the SQLite file in the data directory. A bare `postgresql://`
    URL means the psycopg (v3) driver, the one this package depends on."""
    if url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(data_dir / 'gwf.sqlite').resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            # Threads of one server share the file; WAL lets readers go on while a job writes.
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            if self.engine.url.database not in (None, "", ":memory:"):
                _private(Path(self.engine.url.database))
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # Short transactions: a few connections serve the request threads and the job workers,
            # and several servers fit in PostgreSQL's default 100 connections.
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (a no-op when it is already there)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _private(path: Path) -> None:
    """The file holds token digests and who did what: for the server's account only. SQLite
    gives its -wal and -shm files the mode of the database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    path.chmod(0o600)


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


__all__ = ["Database", "database_url"]
