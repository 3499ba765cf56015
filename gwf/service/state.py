"""What one running service holds: its settings, the default spec, the event bus, the job
runner and the schedule store; and how a request's optional spec becomes a FactorySpec."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwf.service import tasks
from gwf.service.auth_store import DatabaseAuthStore, attach
from gwf.service.db import Database, database_url
from gwf.service.events import EventBus
from gwf.service.jobs import JobRunner
from gwf.service.settings import ServiceSettings
from gwf.service.store import ScheduleStore
from plant import DEFAULT_CATALOG, FactorySpec, limits, load_spec, parse_spec
from plant.loader import SpecError, spec_from_dict


@dataclass
class Service:
    settings: ServiceSettings
    spec: FactorySpec
    spec_source: str
    bus: EventBus
    db: Database
    store: ScheduleStore
    runner: JobRunner
    auth: DatabaseAuthStore  # tokens and the audit log, in the same database

    @classmethod
    def start(cls, settings: ServiceSettings) -> "Service":
        """Loads the default spec first, so a bad GWF_SPEC fails at start-up with its one-line
        error; then brings the database schema up to date, moves plan files and the
        token file of earlier versions into it, takes over jobs a dead server left behind, and starts the workers."""
        spec = load_spec(settings.spec)
        bus = EventBus()
        db = Database(database_url(settings.database_url, Path(settings.data_dir)))
        db.migrate()
        store = ScheduleStore(db, cache=settings.plan_cache)
        store.import_files(Path(settings.data_dir) / "schedules")
        auth = attach(db, Path(settings.data_dir))  # and tokens and audit of DATA_DIR/auth.sqlite
        runner = JobRunner(db, bus, {}, threads=settings.job_threads, max_queued=settings.max_queued_jobs,
                           retry_after_s=settings.retry_after_s, lease_s=settings.job_lease_s, attempts=settings.job_attempts)
        service = cls(settings, spec, str(settings.spec or DEFAULT_CATALOG), bus, db, store, runner, auth)
        runner.handlers.update(tasks.handlers(service))
        runner.start()
        return service

    def spec_for(self, body: dict[str, Any] | str | None) -> FactorySpec:
        """The request's spec (YAML text or JSON object) or the default; SpecError names the field.
        The loader checks plant's limits (size, nesting, aliases, cells, demand) before building it."""
        if body is None:
            return self.spec
        spec = parse_spec(body, source="spec") if isinstance(body, str) else spec_from_dict(body, source="spec")
        _check_unicode(spec)
        return spec

    def spec_from_text(self, text: str, media_type: str) -> FactorySpec:
        """A spec sent as a request's whole body: JSON when the client says so (YAML readers
        mangle JSON's escaped surrogate pairs), YAML otherwise."""
        if media_type.split(";")[0].strip().lower() in ("application/json", "text/json"):
            try:
                raw = limits.load_json(text)  # depth checked first: the decoder recurses (RecursionError, not 422)
            except limits.LimitError as exc:
                raise SpecError(f"spec: {exc}") from None
            except json.JSONDecodeError as exc:
                raise SpecError(f"spec: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
            if not isinstance(raw, (dict, str)):
                raise SpecError("spec: the body must be a JSON object (or a string holding YAML)")
            return self.spec_for(raw)
        return self.spec_for(text)

    @property
    def journal_path(self) -> Path:
        return Path(self.settings.data_dir) / "journal.sqlite"

    def stop(self) -> None:
        self.runner.shutdown()
        self.bus.close()
        self.db.dispose()  # close pooled connections now; a job still finishing opens its own


def _check_unicode(spec: FactorySpec) -> None:
    """JSON and YAML may escape half a surrogate pair (`"\\ud800"`): text no file, report or
    answer can hold. Refuse it here rather than fail later while writing the plan."""
    try:
        json.dumps(spec.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpecError(f"spec: contains text that is not valid Unicode ({exc.reason} at character {exc.start})") from None


__all__ = ["Service", "SpecError"]
