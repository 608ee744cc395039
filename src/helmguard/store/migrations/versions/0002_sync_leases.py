"""Sync leases: one sync per cluster and store, with its heartbeat.

Revision ID: 0002_sync_leases
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import UTCDateTime

revision = "0002_sync_leases"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sync_leases",
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("cluster", name=op.f("pk_sync_leases")),
    )


def downgrade() -> None:
    op.drop_table("sync_leases")
