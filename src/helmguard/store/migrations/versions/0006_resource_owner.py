"""Rows for a workload's children: `resources.owner` names a child's controlling owner.

The sync stores the ReplicaSets, Pods and Jobs its members' statuses depend on, each with
the key of the object that controls it, so the page draws workload -> ReplicaSet -> pods
from ownerReferences. Members keep owner NULL. `resources.restarts`: a pod's restarts.

Revision ID: 0005_resource_owner
Revises: 0004_release_app_status
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import NullableJSON

revision = "0006_resource_owner"
down_revision: str | None = "0005_chart_repositories"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("owner", NullableJSON, nullable=True))
        batch.add_column(sa.Column("restarts", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM resources WHERE owner IS NOT NULL")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("owner")
        batch.drop_column("restarts")
