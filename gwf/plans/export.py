"""A plan as a planner's spreadsheet: one row per operation with real ISO-8601 times, the unit's
product, category, MW and due date, and (XLSX) a second sheet with one row per unit."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from gwf.plans.loaded import LoadedPlan
from gwf.plans.units import unit_statuses

OPERATION_COLUMNS = ["unit", "product", "category", "unit_mw", "operation", "cell", "cell_type", "start", "end",
                     "duration_min", "due", "start_s", "end_s"]
UNIT_COLUMNS = ["unit", "product", "category", "mw", "state", "operations_planned", "operations", "release", "due",
                "finish", "late_h"]


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def operation_rows(plan: LoadedPlan) -> list[list[Any]]:
    """Rows in time order; `unit_mw` is the unit's MW (repeated on each of its operations, so
    sum it over units, not rows)."""
    p = plan.problem
    job_of = {job.id: job for job in p.jobs}
    pool_of_cell = {c.id: p.pools[c.pool].name for c in p.cells}
    rows = []
    for a in sorted(plan.schedule.assignments, key=lambda a: (a.start, a.cell, a.job)):
        job = job_of[a.job]
        due = _iso(plan.at(job.due)) if job.due is not None else ""
        rows.append([a.job, job.product, job.category, job.mw, a.op, a.cell, pool_of_cell.get(a.cell, ""),
                     _iso(plan.at(a.start)), _iso(plan.at(a.end)), round((a.end - a.start) / 60, 2), due, a.start, a.end])
    return rows


def unit_rows(plan: LoadedPlan) -> list[list[Any]]:
    horizon = plan.problem.horizon
    rows = []
    for u in unit_statuses(plan.problem, plan.schedule):
        rows.append([u.id, u.product, u.category, u.mw, u.state(horizon), u.planned_ops, u.total_ops,
                     _iso(plan.at(u.release)), _iso(plan.at(u.due)) if u.due is not None else "",
                     _iso(plan.at(u.finish)) if u.finish is not None else "", round(u.lateness_s / 3600, 3)])
    return rows


def write_csv(plan: LoadedPlan, path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OPERATION_COLUMNS)
        writer.writerows(operation_rows(plan))


def write_xlsx(plan: LoadedPlan, path: str | Path) -> None:
    """Two sheets, operations and units; times are ISO-8601 text with their zone (Excel's own
    date cells have no time zone) plus plain seconds from the plan's start for arithmetic."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)

    def append(sheet, row: list[Any]) -> None:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                # openpyxl stores a string starting with "=" as a formula: a product named
                # "=HYPERLINK(...)" from a spec file would run in the planner's Excel.
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)

    for title, columns, rows in (("operations", OPERATION_COLUMNS, operation_rows(plan)), ("units", UNIT_COLUMNS, unit_rows(plan))):
        sheet = book.create_sheet(title)
        append(sheet, columns)
        for row in rows:
            append(sheet, row)
    info = book.create_sheet("plan")
    for row in (["plan", plan.schedule.name], ["spec", plan.spec.name], ["start", _iso(plan.start)],
                ["horizon_end", _iso(plan.at(plan.problem.horizon))]):
        append(info, row)
    book.save(str(path))


def write_plan_files(plan: LoadedPlan, out_dir: str | Path, xlsx: bool = True, stem: str = "schedule") -> dict[str, str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / f"{stem}.csv"}
    write_csv(plan, files["csv"])
    if xlsx:
        files["xlsx"] = out / f"{stem}.xlsx"
        write_xlsx(plan, files["xlsx"])
    return {k: str(v) for k, v in files.items()}
