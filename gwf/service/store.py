"""Plans the service has made, kept in memory and as JSON files in the data directory so they
outlive a restart. Each keeps the spec it was planned for, so views and dispatch can rebuild
the routing."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from plant.loader import spec_from_dict
from plant.spec import FactorySpec
from robots.plans import problem_for_schedule
from scheduler.problem import Problem
from scheduler.schedule import Schedule

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class StoredSchedule:
    id: str
    spec: FactorySpec
    schedule: Schedule
    created: str
    problem_given: Problem | None = None
    summary: dict[str, Any] | None = None  # computed once: listing plans must not re-count 70k assignments each time

    @cached_property
    def problem(self) -> Problem:
        """The problem it was planned for; rebuilt from the job names after a restart."""
        return self.problem_given or problem_for_schedule(self.spec, self.schedule)

    @cached_property
    def pool_of_cell(self) -> dict[str, str]:
        return {cell.id: cell.type for cell in self.spec.all_cells}


class ScheduleStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._memory: dict[str, StoredSchedule] = {}
        self._lock = threading.Lock()

    def put(self, stored: StoredSchedule) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        body = {"id": stored.id, "created": stored.created, "summary": stored.summary,
                "spec": stored.spec.model_dump(mode="json"), "schedule": stored.schedule.to_dict()}
        tmp = self.directory / f".{stored.id}.json.tmp"
        tmp.write_text(json.dumps(body))
        tmp.replace(self.directory / f"{stored.id}.json")  # readers never see half a file
        with self._lock:
            self._memory[stored.id] = stored

    def get(self, schedule_id: str) -> StoredSchedule | None:
        with self._lock:
            if schedule_id in self._memory:
                return self._memory[schedule_id]
        if not _ID.match(schedule_id):
            return None  # never turn an id into an arbitrary path
        path = self.directory / f"{schedule_id}.json"
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        stored = StoredSchedule(schedule_id, spec_from_dict(raw["spec"], str(path)), Schedule.from_dict(raw["schedule"]),
                                raw.get("created", ""), summary=raw.get("summary"))
        with self._lock:
            self._memory[schedule_id] = stored
        return stored

    def ids(self) -> list[str]:
        """Known schedule ids, oldest first (by file time, then memory for unsaved ones)."""
        on_disk = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime) if self.directory.is_dir() else []
        out = [p.stem for p in on_disk]
        with self._lock:
            out += [i for i in self._memory if i not in out]
        return out
