"""Tokens and the audit log in the service's database (gwf/service/db: the SQLite file in the
data directory, or the PostgreSQL at GWF_DATABASE_URL), so every `gwf serve` sharing a
database shares its tokens, its local-development rule and one audit log, and `gwf token`
writes where the servers read. One class serves both small protocols (`auth.TokenStore`,
`AuditLog` here); a DATA_DIR/auth.sqlite of earlier versions is moved in once."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select, update

from gwf.service.auth import Role, TokenRecord, TokenStore
from gwf.service.db import Database, database_url
from gwf.service.db.tables import AuditRow, TokenRow
from gwf.service.settings import ServiceSettings

log = logging.getLogger("gwf.service")
LEGACY_FILE = "auth.sqlite"  # where versions before the database kept tokens and audit
# A detail is one line of a refusal or an error; more would let a caller fill the disk.
_DETAIL_MAX = 300
# The log keeps the latest records: a flood of refused requests must not fill the disk either.
AUDIT_KEEP = 1_000_000
_TRIM_EVERY = 1000
_IMPORT_BATCH = 5000


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditRecord:
    """One state-changing request: who, what, when, and how it ended."""

    at: str
    who: str
    action: str          # e.g. "POST /api/dispatch" or "cli: token create"
    status: int          # HTTP status (the CLI uses 0 for success)
    outcome: str         # ok | denied | refused | failed
    token_id: str | None = None
    role: str | None = None
    target: str | None = None  # the job, plan or token acted on
    detail: str | None = None
    client: str | None = None
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog(Protocol):
    def record(self, entry: AuditRecord) -> None: ...
    def list(self, *, limit: int = 100, offset: int = 0, who: str | None = None) -> tuple[int, list[AuditRecord]]: ...


def _line(text: str | None, limit: int) -> str | None:
    """One printable line of at most `limit` characters. A request path may carry `%00` or a
    newline: PostgreSQL refuses NUL in text, and a log line must stay one line."""
    if text is None:
        return None
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())[:limit]


class DatabaseAuthStore:
    """`auth.TokenStore` and `AuditLog` over the service's database. Each call is one short
    transaction, safe from any thread (the audit is written from the thread pool)."""

    def __init__(self, db: Database, audit_keep: int = AUDIT_KEEP, *, owns_db: bool = False) -> None:
        self.db, self.audit_keep, self._owns_db = db, audit_keep, owns_db
        self._issued = False  # tokens are never deleted: once one exists, the answer stays yes

    # ---- tokens ----
    def add(self, record: TokenRecord) -> None:
        with self.db.session() as session:
            session.add(TokenRow(id=record.id, name=record.name, role=record.role.value, sha256=record.digest,
                                 created=record.created))

    def get(self, token_id: str) -> TokenRecord | None:
        with self.db.session() as session:
            row = session.get(TokenRow, token_id)
            return _token(row) if row is not None else None

    def all(self) -> list[TokenRecord]:
        with self.db.session() as session:
            return [_token(row) for row in session.scalars(select(TokenRow).order_by(TokenRow.created, TokenRow.id))]

    def revoke(self, token_id: str, at: str) -> TokenRecord | None:
        with self.db.session() as session:
            session.execute(update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked.is_(None)).values(revoked=at))
        return self.get(token_id)

    def touch(self, token_id: str, at: str) -> None:
        with self.db.session() as session:
            session.execute(update(TokenRow).where(TokenRow.id == token_id).values(last_used=at))

    def ever_issued(self) -> bool:
        # Asked on every tokenless request while in local-development mode; another server or
        # `gwf token create` may issue the first token at any time, so "no" is never cached.
        if not self._issued:
            with self.db.session() as session:
                self._issued = session.scalar(select(TokenRow.id).limit(1)) is not None
        return self._issued

    def active(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(TokenRow).where(TokenRow.revoked.is_(None))) or 0)

    # ---- audit ----
    def record(self, entry: AuditRecord) -> None:
        with self.db.session() as session:
            seq = session.execute(insert(AuditRow).values(**_audit_values(entry))).inserted_primary_key[0]
            # Ids grow by one per record on both databases (whichever server writes it), so
            # "every thousandth id trims" keeps the log near `audit_keep` records among all servers.
            if seq % _TRIM_EVERY == 0:
                session.execute(delete(AuditRow).where(AuditRow.id <= seq - self.audit_keep))

    def list(self, *, limit: int = 100, offset: int = 0, who: str | None = None) -> tuple[int, list[AuditRecord]]:
        """Newest first; the total counts every matching record."""
        where = [AuditRow.who == who] if who is not None else []
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(AuditRow).where(*where)) or 0
            rows = session.scalars(select(AuditRow).where(*where).order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
            return int(total), [_record(row) for row in rows]

    # ---- earlier versions ----
    def import_legacy(self, path: Path) -> bool:
        """Move tokens and audit of a DATA_DIR/auth.sqlite into the database once, then rename it
        `auth.sqlite.imported`. Tokens already here are kept as they are; a file that cannot be
        read stays where it is and is logged (the server starts; its tokens are not there)."""
        if not path.is_file():
            return False
        try:
            legacy = sqlite3.connect(str(path), timeout=30)
            try:
                legacy.row_factory = sqlite3.Row
                self._copy(legacy)
            finally:
                legacy.close()  # the last connection checkpoints the WAL into the file
        except sqlite3.Error as exc:
            log.error("token file %s cannot be read, not imported: %s", path, exc)
            return False
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.rename(path.with_name(path.name + ".imported" + suffix))
        return True

    def _copy(self, legacy: sqlite3.Connection) -> None:
        tokens = legacy.execute("SELECT id, name, role, digest, created, revoked, last_used FROM tokens").fetchall()
        last = legacy.execute("SELECT at, who, action FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        with self.db.session() as session:  # one transaction: all of it or none
            known = set(session.scalars(select(TokenRow.id)))
            rows = [{"id": t["id"], "name": t["name"], "role": t["role"], "sha256": t["digest"], "created": t["created"],
                     "revoked": t["revoked"], "last_used": t["last_used"]} for t in tokens if t["id"] not in known]
            if rows:
                session.execute(insert(TokenRow), rows)
            # A start that died after this commit but before the rename must not copy the log twice.
            copied = last is not None and session.scalar(select(AuditRow.id).where(
                AuditRow.at == last["at"], AuditRow.who == last["who"], AuditRow.action == last["action"]).limit(1)) is not None
            if last is None or copied:
                return
            cursor = legacy.execute("SELECT at, who, token_id, role, action, target, status, outcome, detail, client "
                                    "FROM audit ORDER BY seq")
            while batch := cursor.fetchmany(_IMPORT_BATCH):
                session.execute(insert(AuditRow), [_audit_values(AuditRecord(**dict(row))) for row in batch])

    def close(self) -> None:
        if self._owns_db:
            self.db.dispose()


def _audit_values(entry: AuditRecord) -> dict[str, Any]:
    return {"at": entry.at, "who": _line(entry.who, 64) or "?", "token_id": _line(entry.token_id, 16),
            "role": _line(entry.role, 16), "action": _line(entry.action, 200) or "?", "target": _line(entry.target or None, 200),
            "status": int(entry.status), "outcome": _line(entry.outcome, 16) or "?", "detail": _line(entry.detail, _DETAIL_MAX),
            "client": _line(entry.client, 64)}


def _token(row: TokenRow) -> TokenRecord:
    return TokenRecord(row.id, row.name, Role(row.role), row.sha256, row.created, row.revoked, row.last_used)


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(at=row.at, who=row.who, action=row.action, status=row.status, outcome=row.outcome, token_id=row.token_id,
                       role=row.role, target=row.target, detail=row.detail, client=row.client, seq=row.id)


def attach(db: Database, data_dir: Path, *, owns_db: bool = False) -> DatabaseAuthStore:
    """The store over an already migrated database, with an earlier version's file moved in."""
    store = DatabaseAuthStore(db, owns_db=owns_db)
    store.import_legacy(Path(data_dir) / LEGACY_FILE)
    return store


def open_store(where: Path | ServiceSettings) -> DatabaseAuthStore:
    """The store `gwf token` (and tests) use: the database a server with these settings (or
    this data directory and the GWF_* environment) uses, migrated first, so a token made
    before the first start is already where the server will look."""
    settings = where if isinstance(where, ServiceSettings) else ServiceSettings(data_dir=Path(where))
    db = Database(database_url(settings.database_url, Path(settings.data_dir)))
    db.migrate()
    return attach(db, Path(settings.data_dir), owns_db=True)


def issue_token(store: TokenStore, name: str, role: str) -> tuple[TokenRecord, str]:
    """Create a token (ValueError naming `name` or `role` when bad); the secret is returned once."""
    from gwf.service.auth import check_name, new_token, parse_role

    record, secret = new_token(check_name(name), parse_role(role), now_iso())
    store.add(record)
    return record, secret


def revoke_token(store: TokenStore, token_id: str) -> TokenRecord:
    """Revoke (idempotent: a revoked token keeps its first revocation time); ValueError when unknown."""
    record = store.revoke(token_id, now_iso())
    if record is None:
        known = ", ".join(r.id for r in store.all()) or "none"
        raise UnknownToken(f"token_id: no token {token_id!r}; known: {known}")
    return record



class UnknownToken(ValueError):
    """A token id that was never issued."""
