"""The dispatch journal: every job transition in an SQLite file, so a dispatcher that is
killed at any instant restarts knowing which jobs are done, which were in flight, and
which never left; and every job is *claimed* in it before it is sent, so a second
dispatcher (another process, another stored copy of the same plan) can never run it again."""
from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# Fleet task vocabulary (open robot-fleet middleware): queued -> underway -> completed |
# failed | canceled, or blocked when the controller could not be reached (outcome unknown:
# not terminal, so the next run re-sends it under the same id and the controller de-duplicates).
# `attention`: the outcome is unknown and the driver cannot promise that a re-send is harmless
# (GRBL has no job ids): it waits for a person's decision and is never re-sent by itself.
# `reworked`: it failed its check and the spec's rework routing was queued in its place.
QUEUED, UNDERWAY, COMPLETED, FAILED, CANCELED, BLOCKED, ATTENTION, REWORKED = (
    "queued", "underway", "completed", "failed", "canceled", "blocked", "attention", "reworked")
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED, REWORKED})
SETTLED = TERMINAL | {BLOCKED, ATTENTION}  # nothing more happens to it in this run

# What a claim found.
CLAIMED, DONE, BUSY, UNKNOWN, HELD = "claimed", "done", "busy", "unknown", "held"

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
CREATE TABLE IF NOT EXISTS runs (
    plan     TEXT PRIMARY KEY,
    epoch    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    plan     TEXT NOT NULL,
    at       REAL NOT NULL,
    kind     TEXT NOT NULL,
    job_id   TEXT,
    cell     TEXT,
    target   TEXT,
    reason   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_plan_state ON jobs(plan, state);
"""
# Columns added after the first journals were written: old files get them on open.
_CLAIM_COLUMNS = {"owner": "TEXT", "lease": "REAL NOT NULL DEFAULT 0", "finished": "REAL"}


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


def new_owner() -> str:
    """Who holds a claim: host, process id and a token (a pid can be reused after a crash)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process named by a claim still runs. Only decidable on this host; on another
    host the lease alone decides."""
    if not owner:
        return False
    host, _, rest = owner.partition("/")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(rest.split("/", 1)[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Journal:
    """SQLite journal in WAL mode. synchronous=NORMAL in WAL is durable against a killed
    process (the case we guard against); `durable=True` adds fsync per commit for power loss."""

    def __init__(self, path: str | Path, durable: bool = False) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.executescript(_SCHEMA)
        with self._tx():
            have = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _CLAIM_COLUMNS.items():
                if name not in have:
                    self.db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    def enqueue(self, plan: str, rows: list[tuple[str, str, str, str]]) -> int:
        """Add (job_id, cell, job, op) rows as queued; rows already known keep their state.
        A known job never sent (queued, no attempt) goes to the cell these rows name: a plan
        and its repair share job ids, and the repair moves unsent work off a down cell. Only a
        job a decision moved stays where the decision put it. Returns how many were new."""
        now = time.time()
        with self._tx():
            before = self._count(plan)
            unsent = dict(self.db.execute("SELECT job_id, cell FROM jobs WHERE plan=? AND state=? AND attempts=0", (plan, QUEUED)))
            decided = {row[0] for row in self.db.execute("SELECT job_id FROM decisions WHERE plan=? AND target IS NOT NULL", (plan,))}
            self.db.executemany(
                "UPDATE jobs SET cell=?, updated=? WHERE job_id=?",
                [(cell, now, job_id) for job_id, cell, _, _ in rows if unsent.get(job_id, cell) != cell and job_id not in decided],
            )
            self.db.executemany(
                "INSERT OR IGNORE INTO jobs(job_id, plan, cell, job, op, state, updated) VALUES (?,?,?,?,?,?,?)",
                [(job_id, plan, cell, job, op, QUEUED, now) for job_id, cell, job, op in rows],
            )
            self.db.execute("INSERT OR IGNORE INTO runs(plan, epoch) VALUES (?,?)", (plan, now))
            added = self._count(plan) - before
        return added

    def epoch(self, plan: str) -> float:
        """Wall time the plan's first dispatch began: time zero of its planned start times."""
        row = self.db.execute("SELECT epoch FROM runs WHERE plan=?", (plan,)).fetchone()
        if row is None:
            raise KeyError(f"plan {plan!r} is not in the journal")
        return row[0]

    def start_clock(self, plan: str, at: float) -> None:
        """Time zero of a plan dispatched for the first time: when its first job may leave (the
        run's setup before that is not the floor's time)."""
        with self._tx():
            self.db.execute("UPDATE runs SET epoch=? WHERE plan=?", (at, plan))

    def claim(self, job_id: str, owner: str, lease_s: float, detail: str = "claimed") -> tuple[str, str]:
        """Atomically take the job for `owner` before sending it: (outcome, state seen).

        CLAIMED: it is now `underway` under this owner (attempts + 1). DONE: it is terminal.
        BUSY: another live owner has it underway. UNKNOWN: it was underway under an owner that
        is gone, so it may have run: it is now this owner's, but the
        caller must decide whether a re-send is safe (`take_unknown`). HELD: it waits for a
        person (`attention`). `detail` is the transition's reason (the decision that sent it)."""
        now = time.time()
        with self._tx():
            row = self.db.execute("SELECT state, owner, lease FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"job {job_id!r} is not in the journal")
            state, holder, lease = row
            if state in TERMINAL:
                return DONE, state
            if state == ATTENTION:
                return HELD, state
            if state == UNDERWAY and holder != owner and lease > now and owner_alive(holder):
                return BUSY, state
            # Blocked jobs were never handed to a driver that cannot take a re-send (see the
            # dispatcher), so only `underway` leaves the outcome in doubt.
            outcome = UNKNOWN if state == UNDERWAY else CLAIMED
            self.db.execute("UPDATE jobs SET owner=?, lease=? WHERE job_id=?", (owner, now + lease_s, job_id))
            if outcome == CLAIMED:
                self._move(job_id, state, UNDERWAY, detail, now)
            return outcome, state

    def renew(self, owner: str, lease_s: float) -> None:
        """Extend every claim this owner holds (a live dispatcher calls this periodically)."""
        with self._tx():
            self.db.execute("UPDATE jobs SET lease=? WHERE owner=? AND state=?", (time.time() + lease_s, owner, UNDERWAY))

    def transition(self, job_id: str, to_state: str, detail: str = "", finished: float | None = None) -> None:
        """Record one state change atomically with its history row."""
        now = time.time()
        with self._tx():
            row = self.db.execute("SELECT state FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(f"job {job_id!r} is not in the journal")
            self._move(job_id, row[0], to_state, detail, now, finished)

    def reassign(self, plan: str, moves: list[tuple[str, str, str, str]]) -> None:
        """Move queued jobs to other cells — (job_id, from_cell, to_cell, reason) — each recorded as
        a `move` decision, in one transaction: a dispatcher killed mid-reassignment finds all of
        it or none."""
        now = time.time()
        with self._tx():
            for job_id, source, target, reason in moves:
                self.db.execute("UPDATE jobs SET cell=?, updated=? WHERE job_id=?", (target, now, job_id))
                self.db.execute("INSERT INTO decisions(plan, at, kind, job_id, cell, target, reason) VALUES (?,?,?,?,?,?,?)",
                                (plan, now, "move", job_id, source, target, reason))

    def resolve(self, plan: str, job_id: str, outcome: str, who: str = "operator") -> None:
        """A person's decision on a job waiting for one (`attention`): 'done' (it ran: its
        dependents go on) or 'redo' (it did not, or must run again: queued, sent again)."""
        if outcome not in ("done", "redo"):
            raise ValueError(f"--decide {job_id}: {outcome!r} is not a decision; valid: done, redo")
        with self._tx():
            row = self.db.execute("SELECT state FROM jobs WHERE job_id=? AND plan=?", (job_id, plan)).fetchone()
            if row is None:
                raise ValueError(f"--decide: job {job_id!r} is not in this plan's journal")
            if row[0] != ATTENTION:
                raise ValueError(f"--decide {job_id}: it is {row[0]}, not waiting for a decision")
            target = COMPLETED if outcome == "done" else QUEUED
            self.db.execute("UPDATE jobs SET owner=NULL, lease=0 WHERE job_id=?", (job_id,))
            self._move(job_id, ATTENTION, target, f"{who}: {outcome}", time.time())
            self.db.execute("INSERT INTO decisions(plan, at, kind, job_id, reason) VALUES (?,?,?,?,?)",
                            (plan, time.time(), "resolve", job_id, f"{who}: {outcome}"))

    def add_rework(self, plan: str, rows: list[tuple[str, str, str, str]], reason: str, failed: str) -> None:
        """New queued jobs (job_id, cell, job, op) a failed check sends back, with the decision,
        in one transaction."""
        now = time.time()
        with self._tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO jobs(job_id, plan, cell, job, op, state, updated, detail) VALUES (?,?,?,?,?,?,?,?)",
                [(job_id, plan, cell, job, op, QUEUED, now, "rework") for job_id, cell, job, op in rows],
            )
            self.db.execute("INSERT INTO decisions(plan, at, kind, job_id, reason) VALUES (?,?,?,?,?)",
                            (plan, now, "rework", failed, reason))

    def decide(self, plan: str, kind: str, reason: str, job_id: str | None = None, cell: str | None = None, target: str | None = None) -> None:
        with self._tx():
            self.db.execute("INSERT INTO decisions(plan, at, kind, job_id, cell, target, reason) VALUES (?,?,?,?,?,?,?)",
                            (plan, time.time(), kind, job_id, cell, target, reason))

    def decisions(self, plan: str) -> list[tuple[str, str | None, str | None, str | None, str]]:
        """(kind, job_id, from cell, to cell, reason) in the order they were taken."""
        return self.db.execute("SELECT kind, job_id, cell, target, reason FROM decisions WHERE plan=? ORDER BY seq", (plan,)).fetchall()

    def entries(self, plan: str | None = None) -> list[JournalEntry]:
        query = "SELECT job_id, plan, cell, job, op, state, attempts, detail FROM jobs"
        rows = self.db.execute(query + (" WHERE plan=?" if plan else ""), (plan,) if plan else ()).fetchall()
        return [JournalEntry(*row) for row in rows]

    def states(self, plan: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT job_id, state FROM jobs WHERE plan=?", (plan,)).fetchall())

    def attempts(self, job_id: str) -> int:
        """How often the job was handed to a controller."""
        return self.db.execute("SELECT attempts FROM jobs WHERE job_id=?", (job_id,)).fetchone()[0]

    def holder(self, job_id: str) -> tuple[str, str | None, float]:
        """(state, owner, lease) of one job."""
        return self.db.execute("SELECT state, owner, lease FROM jobs WHERE job_id=?", (job_id,)).fetchone()

    def cells(self, plan: str) -> dict[str, str]:
        """The cell each job is bound to now (the plan's, or where a decision moved it)."""
        return dict(self.db.execute("SELECT job_id, cell FROM jobs WHERE plan=?", (plan,)).fetchall())

    def finished(self, plan: str) -> dict[str, float]:
        """Completion time reported by the controller for each completed job."""
        return dict(self.db.execute("SELECT job_id, finished FROM jobs WHERE plan=? AND state=? AND finished IS NOT NULL",
                                    (plan, COMPLETED)).fetchall())

    def counts(self, plan: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM jobs WHERE plan=? GROUP BY state", (plan,)).fetchall())

    def history(self, job_id: str) -> list[tuple[str | None, str]]:
        return self.db.execute("SELECT from_state, to_state FROM transitions WHERE job_id=? ORDER BY seq", (job_id,)).fetchall()

    def _move(self, job_id: str, from_state: str, to_state: str, detail: str, now: float, finished: float | None = None) -> None:
        bump = 1 if to_state == UNDERWAY else 0
        self.db.execute(
            "UPDATE jobs SET state=?, detail=?, updated=?, attempts=attempts+?, finished=COALESCE(?, finished) WHERE job_id=?",
            (to_state, detail, now, bump, finished, job_id),
        )
        self.db.execute(
            "INSERT INTO transitions(job_id, from_state, to_state, at, detail) VALUES (?,?,?,?,?)",
            (job_id, from_state, to_state, now, detail),
        )

    def _count(self, plan: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE plan=?", (plan,)).fetchone()[0]

    def atomic(self) -> "_Transaction":
        """One transaction around several journal calls (a decision and its effect: a claim and
        the move it makes, a re-plan and its rebinds): a kill finds all of them or none."""
        return _Transaction(self.db)

    def _tx(self) -> "_Transaction":
        return _Transaction(self.db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT; inside an open transaction (`Journal.atomic`) it joins it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        self.outer = not self.db.in_transaction
        if self.outer:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.outer:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
