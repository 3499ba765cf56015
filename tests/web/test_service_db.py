"""The database layer on both backends: the migrations make exactly the schema the code uses,
running them twice is harmless, and plan files of earlier versions move in (a broken one is
left alone and never stops the others)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gwf.service.db import Database
from gwf.service.db import database_url as url_in
from gwf.service.db.tables import Base
from gwf.service.store import ScheduleStore, StoredSchedule
from plant import load_spec
from plant.loader import spec_from_dict
from scheduler.schedule import Assignment, Schedule
from web_support import TINY


def test_migrations_make_the_schema_the_tables_describe(tmp_path: Path, database_url: str | None) -> None:
    db = Database(url_in(database_url, tmp_path / "data"))
    db.migrate()
    db.migrate()  # every start runs them: the second time is a no-op
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(inspect(connection).get_table_names())
    db.dispose()
    assert differences == []
    assert {"plans", "jobs", "tokens", "audit"} <= tables  # tokens and audit moved in from auth.sqlite (0002)


def test_plan_files_of_earlier_versions_move_into_the_database(tmp_path: Path, database_url: str | None) -> None:
    folder = tmp_path / "data" / "schedules"
    folder.mkdir(parents=True)
    spec = load_spec(TINY)
    schedule = Schedule([Assignment("rack#00001", "frame", "arm-001", 0, 600)], 3600, "feasible", "makespan", value=600)
    (folder / "old1.json").write_text(json.dumps({"id": "old1", "created": "2026-11-01T00:00:00+00:00", "summary": None,
                                                  "spec": spec.model_dump(mode="json"), "schedule": schedule.to_dict()}))
    (folder / "broken.json").write_text('{"id": "broken", "spec": {"na')  # truncated by a full disk
    db = Database(url_in(database_url, tmp_path / "data"))
    db.migrate()
    store = ScheduleStore(db)
    assert store.import_files(folder) == 1
    assert (folder / "old1.json.imported").exists() and (folder / "broken.json").exists()
    ScheduleStore(db).import_files(folder)  # the next start: nothing twice
    fresh = ScheduleStore(db)
    back = fresh.get("old1")
    assert back is not None and back.schedule.assignments == schedule.assignments
    assert [s["id"] for s in fresh.summaries()] == ["old1"] and fresh.summaries()[0]["damaged"] == "no summary stored"
    assert fresh.get("broken") is None
    db.dispose()


def test_only_a_few_parsed_plans_stay_in_memory(tmp_path: Path) -> None:
    db = Database(url_in(None, tmp_path))
    db.migrate()
    store = ScheduleStore(db, cache=2)
    spec = yaml.safe_load(TINY.read_text())
    for k in range(5):
        store.put(StoredSchedule(f"p{k}", spec_from_dict(spec), Schedule([], 3600, "feasible", "makespan"), f"2026-11-0{k + 1}"))
    assert list(store._cache) == ["p3", "p4"]
    assert store.get("p0") is not None and list(store._cache) == ["p4", "p0"]  # read back on demand
    db.dispose()
