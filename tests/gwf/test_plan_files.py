"""Plans that leave the tool: CSV/XLSX with real dates, compare, why-late, and the Gantt's
escaping of names from outside."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from plan_support import FORMULA, XSS, gwf, plan_queue

START = datetime.fromisoformat("2026-12-07T06:00:00+01:00")


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> Path:
    return plan_queue(tmp_path_factory.mktemp("queue"))


def test_csv_rows_carry_real_times_product_unit_category_mw_and_due(planned: Path) -> None:
    plan = json.loads((planned / "schedule.json").read_text())
    with open(planned / "schedule.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(plan["assignments"]) > 0
    products = {"widget": ("compute", 0.05), XSS: ("cooling", 0.1), FORMULA: ("cooling", 0.1)}
    for row in rows:
        start, end, due = (datetime.fromisoformat(row[k]) for k in ("start", "end", "due"))
        assert start.utcoffset() == timedelta(hours=1)  # the zone of --start, written out
        assert start == START + timedelta(seconds=int(row["start_s"]))
        assert end == START + timedelta(seconds=int(row["end_s"]))
        assert due >= end or row["unit"]  # a due date is present on every row
        assert row["unit"].split("#")[0] == row["product"]
        assert (row["category"], float(row["unit_mw"])) == products[row["product"]]
    assert {r["product"] for r in rows} == set(products)


def test_xlsx_has_operations_and_units_and_keeps_formulas_as_text(planned: Path) -> None:
    from openpyxl import load_workbook

    book = load_workbook(planned / "schedule.xlsx")
    assert {"operations", "units", "plan"} <= set(book.sheetnames)
    ops = list(book["operations"].iter_rows(values_only=True))
    plan = json.loads((planned / "schedule.json").read_text())
    assert len(ops) - 1 == len(plan["assignments"])
    header = ops[0]
    formula_cells = [row[header.index("product")] for row in ops[1:] if row[header.index("product")] == FORMULA]
    assert formula_cells, "the formula-named product is in the sheet as its literal name"
    for row in book["operations"].iter_rows(min_row=2):
        assert row[header.index("product")].data_type == "s"
    units = list(book["units"].iter_rows(values_only=True))
    states = {row[units[0].index("state")] for row in units[1:]}
    assert "open" in states and "done" in states  # the floor is offered twice what it makes


def test_compare_of_a_plan_with_itself_is_all_zeros(planned: Path, tmp_path: Path) -> None:
    run = gwf("compare", str(planned / "schedule.json"), str(planned / "schedule.json"), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        else:
            yield value

    assert all(v == 0 for v in leaves(result["delta"]))
    assert result["a"]["operations"] > 0 and result["a"]["units_open"] > 0
    # ...and a different plan (half the horizon) differs: the comparison can fail.
    other = plan_queue(tmp_path, "--demand-hours", "12")
    run = gwf("compare", str(planned / "schedule.json"), str(other / "schedule.json"), "--json")
    delta = json.loads(run.stdout)["delta"]
    assert delta["operations"] < 0 and delta["operations_moved"]["only_in_a"] > 0


def test_why_names_the_cell_and_the_unit_that_held_an_open_unit(planned: Path) -> None:
    listing = gwf("why", str(planned / "schedule.json"), "--json")
    assert listing.returncode == 0, listing.stderr
    units = json.loads(listing.stdout)["units"]
    assert units and all(u["state"] in ("open", "late") for u in units)
    plan = json.loads((planned / "schedule.json").read_text())
    by_key = {(a["job"], a["op"]): a for a in plan["assignments"]}
    held_by_cell = 0
    for unit in units:
        for link in unit["chain"]:
            assert link["start_s"] >= link["ready_s"] - 1  # nothing starts before what held it let go
            if link["held_by"] in ("cell", "setup"):
                holder = by_key[(link["by_job"], link["by_op"])]
                assert holder["cell"] == link["cell"] and holder["end"] <= link["start_s"]
                assert link["by_job"] != link["job"] or link["by_op"] != link["op"]
                held_by_cell += 1
            if link["held_by"] == "predecessor":
                assert link["by_job"] == link["job"]
    assert held_by_cell > 0, "on a floor offered twice its capacity some unit waits for the arm"
    one = units[0]["unit"]
    text = gwf("why", str(planned / "schedule.json"), one)
    assert text.returncode == 0 and one in text.stdout and "critical chain" in text.stdout
    assert "2026-12-0" in text.stdout  # real dates, not seconds


@pytest.mark.parametrize("args, field", [
    (["why", "{plan}", "no-such-unit"], "unit:"),
    (["export", "{plan}", "--start", "2026-12-07T06:00"], "--start:"),
    (["export", "{plan}", "--start", "next tuesday"], "--start:"),
])
def test_bad_input_is_one_line_and_exit_2(planned: Path, tmp_path: Path, args: list[str], field: str) -> None:
    run = gwf(*[a.replace("{plan}", str(planned / "schedule.json")) for a in args], "--out-dir" if args[0] == "export" else "--json",
              *([str(tmp_path)] if args[0] == "export" else []))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0]


def test_gantt_never_writes_a_name_as_markup(planned: Path) -> None:
    page = (planned / "gantt.html").read_text(encoding="utf-8")
    assert "<img" not in page and "onerror=alert" in page.replace("\\u003c", "<")  # present, but only as escaped data
    script = page.split("<script>")[1]
    assert ".innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
