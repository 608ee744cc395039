"""The cluster registry: clusters by name, each a kubeconfig file and one of its contexts.

No credentials: the kubeconfig keeps them. Releases already carry their cluster's name
(`releases.cluster`, "" for the default cluster).

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


def downgrade() -> None:
    op.drop_table("clusters")
