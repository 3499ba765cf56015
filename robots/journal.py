"""The dispatch journal: every job transition in an SQLite file, so a dispatcher that is
killed at any instant restarts knowing which jobs are done, which were in flight, and
which never left."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

# Fleet task vocabulary (open robot-fleet middleware): queued -> underway -> completed |
# failed | canceled.
QUEUED, UNDERWAY, COMPLETED, FAILED, CANCELED = "queued", "underway", "completed", "failed", "canceled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id   TEXT PRIMARY KEY,
    plan     TEXT NOT NULL,
    cell     TEXT NOT NULL,
    job      TEXT NOT NULL,
    op       TEXT NOT NULL,
    state    TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    detail   TEXT NOT NULL DEFAULT '',
    updated  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id   TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at       REAL NOT NULL,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_plan_state ON jobs(plan, state);
"""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    job_id: str
    plan: str
    cell: str
    job: str
    op: str
    state: str
    attempts: int
    detail: str


class Journal:
    """SQLite journal in WAL mode. synchronous=NORMAL in WAL is durable against a killed
    process (the case we guard against); `durable=True` adds fsync per commit for power loss."""

    def __init__(self, path: str | Path, durable: bool = False) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def enqueue(self, plan: str, rows: list[tuple[str, str, str, str]]) -> int:
        """Add (job_id, cell, job, op) rows as queued; rows already known keep their state.
        Returns how many were new."""
        now = time.time()
        with self._tx():
            before = self._count(plan)
            self.db.executemany(
                "INSERT OR IGNORE INTO jobs(job_id, plan, cell, job, op, state, updated) VALUES (?,?,?,?,?,?,?)",
                [(job_id, plan, cell, job, op, QUEUED, now) for job_id, cell, job, op in rows],
            )
            added = self._count(plan) - before
        return added

    def transition(self, job_id: str, to_state: str, detail: str = "") -> None:
        """Record one state change atomically with its history row."""
        now = time.time()
        with self._tx():
            row = self.db.execute("SELECT state FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"job {job_id!r} is not in the journal")
            bump = 1 if to_state == UNDERWAY else 0
            self.db.execute(
                "UPDATE jobs SET state=?, detail=?, updated=?, attempts=attempts+? WHERE job_id=?",
                (to_state, detail, now, bump, job_id),
            )
            self.db.execute(
                "INSERT INTO transitions(job_id, from_state, to_state, at, detail) VALUES (?,?,?,?,?)",
                (job_id, row[0], to_state, now, detail),
            )

    def entries(self, plan: str | None = None) -> list[JournalEntry]:
        query = "SELECT job_id, plan, cell, job, op, state, attempts, detail FROM jobs"
        rows = self.db.execute(query + (" WHERE plan=?" if plan else ""), (plan,) if plan else ()).fetchall()
        return [JournalEntry(*row) for row in rows]

    def states(self, plan: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT job_id, state FROM jobs WHERE plan=?", (plan,)).fetchall())

    def counts(self, plan: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM jobs WHERE plan=? GROUP BY state", (plan,)).fetchall())

    def history(self, job_id: str) -> list[tuple[str | None, str]]:
        return self.db.execute("SELECT from_state, to_state FROM transitions WHERE job_id=? ORDER BY seq", (job_id,)).fetchall()

    def _count(self, plan: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE plan=?", (plan,)).fetchone()[0]

    def _tx(self) -> "_Transaction":
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
