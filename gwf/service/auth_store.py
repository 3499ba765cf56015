"""Tokens and the audit log in one SQLite file (`DATA_DIR/auth.sqlite`), shared by the
server and `gwf token` (WAL: the CLI may add a token while the server reads). Both sit
behind small protocols (`auth.TokenStore`, `AuditLog` here) so they can move onto the
service's database layer without touching their users."""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from gwf.service.auth import Role, TokenRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, digest TEXT NOT NULL,
    created TEXT NOT NULL, revoked TEXT, last_used TEXT);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, token_id TEXT,
    role TEXT, action TEXT NOT NULL, target TEXT, status INTEGER NOT NULL, outcome TEXT NOT NULL,
    detail TEXT, client TEXT);
CREATE INDEX IF NOT EXISTS audit_who ON audit (who);
"""
# A detail is one line of a refusal or an error; more would let a caller fill the disk.
_DETAIL_MAX = 300
# The log keeps the latest records: a flood of refused requests must not fill the disk either.
AUDIT_KEEP = 1_000_000
_TRIM_EVERY = 1000


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


class SqliteAuthStore:
    """`auth.TokenStore` and `AuditLog` over one SQLite file."""

    def __init__(self, path: Path, audit_keep: int = AUDIT_KEEP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.audit_keep = path, audit_keep
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        path.chmod(0o600)  # token digests and who did what: for the server's account only
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash of the process loses nothing committed
            self._db.executescript(_SCHEMA)

    # ---- tokens ----
    def add(self, record: TokenRecord) -> None:
        with self._lock:
            self._db.execute("INSERT INTO tokens (id, name, role, digest, created) VALUES (?, ?, ?, ?, ?)",
                             (record.id, record.name, record.role.value, record.digest, record.created))

    def get(self, token_id: str) -> TokenRecord | None:
        with self._lock:
            row = self._db.execute("SELECT id, name, role, digest, created, revoked, last_used FROM tokens WHERE id = ?",
                                   (token_id,)).fetchone()
        return _token(row) if row else None

    def all(self) -> list[TokenRecord]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, role, digest, created, revoked, last_used FROM tokens ORDER BY created").fetchall()
        return [_token(row) for row in rows]

    def revoke(self, token_id: str, at: str) -> TokenRecord | None:
        with self._lock:
            self._db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (at, token_id))
        return self.get(token_id)

    def touch(self, token_id: str, at: str) -> None:
        with self._lock:
            self._db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (at, token_id))

    def ever_issued(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM tokens LIMIT 1").fetchone() is not None

    def active(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tokens WHERE revoked IS NULL").fetchone()[0])

    # ---- audit ----
    def record(self, entry: AuditRecord) -> None:
        detail = None if entry.detail is None else " ".join(entry.detail.split())[:_DETAIL_MAX]
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, who, token_id, role, action, target, status, outcome, detail, client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.at, entry.who[:64], entry.token_id, entry.role, entry.action[:200], (entry.target or None) and entry.target[:200],
                 entry.status, entry.outcome, detail, entry.client))
            seq = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            if seq % _TRIM_EVERY == 0:
                self._db.execute("DELETE FROM audit WHERE seq <= ?", (seq - self.audit_keep,))

    def list(self, *, limit: int = 100, offset: int = 0, who: str | None = None) -> tuple[int, list[AuditRecord]]:
        """Newest first; the total counts every matching record."""
        where, args = ("WHERE who = ?", [who]) if who is not None else ("", [])
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM audit {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT at, who, action, status, outcome, token_id, role, target, detail, client, seq FROM audit {where} "
                "ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return int(total), [AuditRecord(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _token(row: tuple) -> TokenRecord:
    return TokenRecord(row[0], row[1], Role(row[2]), row[3], row[4], row[5], row[6])


def open_store(data_dir: Path) -> SqliteAuthStore:
    return SqliteAuthStore(Path(data_dir) / "auth.sqlite")


def issue_token(store: "SqliteAuthStore", name: str, role: str) -> tuple[TokenRecord, str]:
    """Create a token (ValueError naming `name` or `role` when bad); the secret is returned once."""
    from gwf.service.auth import check_name, new_token, parse_role

    record, secret = new_token(check_name(name), parse_role(role), now_iso())
    store.add(record)
    return record, secret


def revoke_token(store: "SqliteAuthStore", token_id: str) -> TokenRecord:
    """Revoke (idempotent: a revoked token keeps its first revocation time); ValueError when unknown."""
    record = store.revoke(token_id, now_iso())
    if record is None:
        known = ", ".join(r.id for r in store.all()) or "none"
        raise UnknownToken(f"token_id: no token {token_id!r}; known: {known}")
    return record


class UnknownToken(ValueError):
    """A token id that was never issued."""
