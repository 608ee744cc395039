"""The chart catalogue: registered Helm repositories and OCI registries, indexes cached.

Revision ID: 0005_chart_repositories
Revises: 0004_release_app_status
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import JSONType, UTCDateTime

revision = "0005_chart_repositories"
down_revision: str | None = "0004_release_app_status"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "chart_repositories",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("ca_file", sa.Text(), nullable=False),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("index", JSONType, nullable=True),
        sa.Column("index_fetched_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chart_repositories"),
        sa.UniqueConstraint("name", name="uq_chart_repositories_name"),
    )


def downgrade() -> None:
    op.drop_table("chart_repositories")
