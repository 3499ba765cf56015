"""Plans the service has made, kept in the database (compressed, with a checksum) and only a
few at a time in memory: a plan of a week at 1 GW is ~70,000 assignments. Each keeps the spec
it was planned for, so views and dispatch can rebuild the routing. A damaged plan is reported
alone and never hides the others."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from gwf.service.answers import AnswerCache
from gwf.service.db import Database
from gwf.service.db.tables import PlanRow
from plant.loader import spec_from_dict
from plant.spec import FactorySpec
from robots.plans import problem_for_schedule
from scheduler.problem import Problem
from scheduler.schedule import Schedule

log = logging.getLogger("gwf.service")
_VIEWS_PER_PLAN = 8
_VIEWS_LOCK = threading.Lock()


class DamagedPlan(RuntimeError):
    """A stored plan that cannot be read back (its bytes do not match their checksum, or do
    not parse). Ours to fix, not the caller's: the API answers 500 for that plan alone."""

    def __init__(self, schedule_id: str, reason: str) -> None:
        self.schedule_id, self.reason = schedule_id, reason
        super().__init__(f"schedule_id: plan {schedule_id!r} is damaged in storage ({reason}); the other plans are unaffected")


@dataclass
class StoredSchedule:
    id: str
    spec: FactorySpec
    schedule: Schedule
    created: str
    problem_given: Problem | None = None
    summary: dict[str, Any] | None = None  # computed once: listing plans must not re-count 70k assignments each time
    views: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def problem(self) -> Problem:
        """The problem it was planned for; rebuilt from the job names once read back."""
        return self.problem_given or problem_for_schedule(self.spec, self.schedule)

    @cached_property
    def pool_of_cell(self) -> dict[str, str]:
        return {cell.id: cell.type for cell in self.spec.all_cells}

    @cached_property
    def by_start(self) -> list[Any]:
        """The assignments in the order pages list them, sorted once."""
        return sorted(self.schedule.assignments, key=lambda a: (a.start, a.cell, a.job))

    def remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A view of this (unchanging) plan, computed once; at most a few kept per plan."""
        with _VIEWS_LOCK:
            if key in self.views:
                return self.views[key]
        answer = compute()  # outside the lock: two threads may both compute it once, never wait on each other
        with _VIEWS_LOCK:
            if key not in self.views and len(self.views) >= _VIEWS_PER_PLAN:
                self.views.pop(next(iter(self.views)))
            self.views[key] = answer
        return answer


class ScheduleStore:
    def __init__(self, db: Database, cache: int = 4) -> None:
        self.db = db
        self._cache: OrderedDict[str, StoredSchedule] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()
        self.answers = AnswerCache()  # read answers computed from plans, as the bytes sent

    def put(self, stored: StoredSchedule) -> None:
        text = json.dumps(stored.schedule.to_dict(), separators=(",", ":")).encode()
        row = PlanRow(id=stored.id, created=stored.created, summary=stored.summary, spec=stored.spec.model_dump(mode="json"),
                      body=zlib.compress(text, 6), sha256=hashlib.sha256(text).hexdigest())
        with self.db.session() as session:
            session.merge(row)
        self._remember(stored)
        self.answers.forget(stored.id)

    def get(self, schedule_id: str) -> StoredSchedule | None:
        """The plan, or None when there is no such id; DamagedPlan when it cannot be read."""
        with self._lock:
            if schedule_id in self._cache:
                self._cache.move_to_end(schedule_id)
                return self._cache[schedule_id]
        with self.db.session() as session:
            row = session.get(PlanRow, schedule_id)
        if row is None:
            return None
        stored = _decode(row)
        self._remember(stored)
        return stored

    def summaries(self) -> list[dict[str, Any]]:
        """Every plan's summary, oldest first, read without loading any plan; a plan whose
        summary is missing is listed with the reason instead."""
        with self.db.session() as session:
            rows = session.execute(select(PlanRow.id, PlanRow.created, PlanRow.summary).order_by(PlanRow.created, PlanRow.id)).all()
        return [summary if isinstance(summary, dict) else {"id": plan_id, "created": created, "damaged": "no summary stored"}
                for plan_id, created, summary in rows]

    def import_files(self, directory: Path) -> int:
        """Plans written as JSON files by earlier versions, moved into the database once (the
        file is kept, renamed `.imported`). A file that cannot be read stays where it is and
        is logged: it never stops the others."""
        moved = 0
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            try:
                raw = json.loads(path.read_text())
                stored = StoredSchedule(str(raw["id"]), spec_from_dict(raw["spec"], str(path)), Schedule.from_dict(raw["schedule"]),
                                        str(raw.get("created", "")), summary=raw.get("summary"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("plan file %s cannot be read, not imported: %s", path, exc)
                continue
            if self.get_row_id(stored.id) is None:
                self.put(stored)
            path.rename(path.with_suffix(".json.imported"))
            moved += 1
        return moved

    def get_row_id(self, schedule_id: str) -> str | None:
        with self.db.session() as session:
            return session.scalar(select(PlanRow.id).where(PlanRow.id == schedule_id))

    def _remember(self, stored: StoredSchedule) -> None:
        with self._lock:
            self._cache[stored.id] = stored
            self._cache.move_to_end(stored.id)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)


def _decode(row: PlanRow) -> StoredSchedule:
    try:
        text = zlib.decompress(row.body)
    except zlib.error as exc:
        raise DamagedPlan(row.id, f"compressed bytes unreadable: {exc}") from None
    if hashlib.sha256(text).hexdigest() != row.sha256:
        raise DamagedPlan(row.id, "checksum mismatch")
    try:
        schedule = Schedule.from_dict(json.loads(text))
        spec = spec_from_dict(row.spec, f"plan {row.id}")
    except (ValueError, KeyError, TypeError) as exc:
        raise DamagedPlan(row.id, f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return StoredSchedule(row.id, spec, schedule, row.created, summary=row.summary)
