"""The cluster registry: clusters by name, each a kubeconfig file and one of its contexts.

No credentials: the kubeconfig keeps them. Releases already carry their cluster's name
(`releases.cluster`, "" for the default cluster). `sync_leases.elected`: the sync is a
`serve --leader-elect` replica's, so a replica without it is told why it may not sync.

Revision ID: 0007_clusters
Revises: 0006_resource_owner
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import UTCDateTime

revision = "0007_clusters"
down_revision: str | None = "0006_resource_owner"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("kubeconfig", sa.Text(), nullable=False),
        sa.Column("context", sa.String(253), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_clusters"),
    )
    with op.batch_alter_table("sync_leases") as batch:
        batch.add_column(
            sa.Column("elected", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_leases") as batch:
        batch.drop_column("elected")
    op.drop_table("clusters")
