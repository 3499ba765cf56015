"""plans and jobs

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("started", sa.String(40), nullable=True),
        sa.Column("finished", sa.String(40), nullable=True),
        sa.Column("exclusive", sa.String(128), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("heartbeat", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created"])
    op.create_index("ix_jobs_exclusive", "jobs", ["exclusive"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("plans")
