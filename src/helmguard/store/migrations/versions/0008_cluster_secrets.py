"""Clusters whose credentials are in a Secret: `clusters.secret` is its NAMESPACE/NAME
(in the cluster helmguard runs in); "" for a kubeconfig file's context (as before).

Only the reference: the Secret keeps the credentials, never the database.

Revision ID: 0008_cluster_secrets
Revises: 0007_clusters
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_cluster_secrets"
down_revision: str | None = "0007_clusters"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("secret", sa.String(317), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("secret")
