"""The Schedule: the one contract between planning, twin and dispatch, with JSON/CSV I/O."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scheduler.result import gap


@dataclass(slots=True)
class Assignment:
    """Operation `op` of job `job` runs on `cell` over [start, end) seconds from the plan's start."""

    job: str
    op: str
    cell: str
    start: int
    end: int


@dataclass
class Schedule:
    assignments: list[Assignment]
    horizon: int
    status: str = "unknown"  # optimal | feasible | heuristic | infeasible
    objective: str = "makespan"
    value: float = 0.0  # the objective's value
    bound: float = 0.0  # best proven bound on the objective: lower when minimised, upper when maximised
    seconds: float = 0.0
    kpis: dict[str, Any] = field(default_factory=dict)
    name: str = "schedule"

    @property
    def makespan(self) -> int:
        return max((a.end for a in self.assignments), default=0)

    @property
    def gap(self) -> float | None:
        """Distance to the bound in the objective's sense (scheduler.result.gap): 0 when the plan
        meets it, None when there is no bound to measure against."""
        return gap(self.objective, self.value, self.bound)

    def by_cell(self) -> dict[str, list[Assignment]]:
        out: dict[str, list[Assignment]] = {}
        for a in self.assignments:
            out.setdefault(a.cell, []).append(a)
        for seq in out.values():
            seq.sort(key=lambda a: (a.start, a.end))
        return out

    def to_dict(self) -> dict[str, Any]:
        meta = {k: v for k, v in asdict(self).items() if k != "assignments"}
        return {**meta, "makespan": self.makespan, "gap": self.gap, "assignments": [asdict(a) for a in self.assignments]}

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def to_csv(self, path: str | Path) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["job", "op", "cell", "start_s", "end_s"])
        for a in sorted(self.assignments, key=lambda a: (a.start, a.cell)):
            writer.writerow([a.job, a.op, a.cell, a.start, a.end])
        Path(path).write_text(buf.getvalue())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Schedule":
        """Rebuild from `to_dict` output; ValueError names the bad field."""
        if not isinstance(raw, dict) or not isinstance(raw.get("assignments"), list):
            raise ValueError("schedule: expected an object with an 'assignments' list")
        assignments = []
        for i, item in enumerate(raw["assignments"]):
            try:
                assignments.append(Assignment(str(item["job"]), str(item["op"]), str(item["cell"]), int(item["start"]), int(item["end"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"assignments[{i}]: needs job, op, cell, start, end ({exc.__class__.__name__}: {exc})") from None
        known = {"horizon", "status", "objective", "value", "bound", "seconds", "kpis", "name"}
        meta = {k: raw[k] for k in known if k in raw}
        meta.setdefault("horizon", max((a.end for a in assignments), default=0))
        return cls(assignments=assignments, **meta)

    @classmethod
    def from_json(cls, path: str | Path) -> "Schedule":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read schedule ({exc})") from None
        return cls.from_dict(raw)
