"""The service's tables (SQLAlchemy 2). The schema itself is made by the Alembic migrations in
`migrations/versions/`; these classes are how the code reads and writes it, and a test checks
that the two agree."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PlanRow(Base):
    """A stored plan. The schedule itself is compressed JSON with its checksum, so a damaged
    row is found and reported alone; listing plans reads only the summary."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[str] = mapped_column(String(40))  # ISO-8601 UTC: sorts as text
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # zlib(JSON of Schedule.to_dict())
    sha256: Mapped[str] = mapped_column(String(64))  # of the uncompressed JSON


class JobRow(Base):
    """A background job. `params` is what the API shows; `payload` is what a worker needs to
    run it again after a restart (a request's spec can be large and is not shown)."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed | interrupted
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[str] = mapped_column(String(40))
    started: Mapped[str | None] = mapped_column(String(40))
    finished: Mapped[str | None] = mapped_column(String(40))
    exclusive: Mapped[str | None] = mapped_column(String(128))  # jobs sharing a key never run side by side
    owner: Mapped[str | None] = mapped_column(String(128))  # host:pid:nonce of the server running it
    heartbeat: Mapped[float | None] = mapped_column(Float)  # Unix time the owner last said it is alive
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_by: Mapped[str | None] = mapped_column(String(128))  # who cancelled it; the running server stops at its next step

    __table_args__ = (Index("ix_jobs_status_created", "status", "created"), Index("ix_jobs_exclusive", "exclusive"))


# SQLite numbers rows itself only through an INTEGER primary key; PostgreSQL's BIGINT identity
# outlives any retention window (the audit log keeps the latest million but never reuses ids).
AUDIT_ID = BigInteger().with_variant(Integer(), "sqlite")


class TokenRow(Base):
    """An API token: only the SHA-256 of its secret is stored. Rows are never deleted (a
    revoked token stays, for the audit), so "a token was ever issued" is a monotonic fact."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))  # hex digest of the whole secret
    created: Mapped[str] = mapped_column(String(40))
    revoked: Mapped[str | None] = mapped_column(String(40))
    last_used: Mapped[str | None] = mapped_column(String(40))  # to the minute: written at most once a minute per server


class AuditRow(Base):
    """One state-changing request (or `gwf token` command); ids grow with time, so the newest
    are the highest and retention deletes from the bottom."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(AUDIT_ID, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(40))
    who: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[str | None] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_who", "who"),)
