"""Revisions carry their inventory: every object the revision applied, with its uid.

Revision ID: 0003_revision_inventory
Revises: 0002_sync_leases
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import JSONType

revision = "0003_revision_inventory"
down_revision: str | None = "0002_sync_leases"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("revisions") as batch:
        batch.add_column(sa.Column("inventory", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("revisions") as batch:
        batch.drop_column("inventory")
