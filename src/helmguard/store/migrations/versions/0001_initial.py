"""Initial schema: releases, revisions, resources, status transitions, events, operation log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import JSONType, UTCDateTime

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _object_key() -> list[sa.Column[str]]:
    return [
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("chart", sa.Text, nullable=False),
        sa.Column("chart_version", sa.String(128), nullable=False),
        sa.Column("current_revision", sa.Integer, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("cluster", "namespace", "name", name=op.f("uq_releases_key")),
    )
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("chart", sa.Text, nullable=False),
        sa.Column("chart_version", sa.String(128), nullable=False),
        sa.Column("values_digest", sa.String(71), nullable=False),
        sa.Column("plan", JSONType, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisions")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            ondelete="CASCADE",
            name=op.f("fk_revisions_release_id_releases"),
        ),
        sa.UniqueConstraint("release_id", "number", name=op.f("uq_revisions_release_number")),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        *_object_key(),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("observed_at", UTCDateTime, nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=True),
        sa.Column("root_cause", JSONType, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            ondelete="CASCADE",
            name=op.f("fk_resources_release_id_releases"),
        ),
        sa.UniqueConstraint(
            "release_id", "api_group", "kind", "namespace", "name", name=op.f("uq_resources_key")
        ),
    )
    op.create_table(
        "status_transitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        *_object_key(),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("root_cause", JSONType, nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_transitions")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            ondelete="CASCADE",
            name=op.f("fk_status_transitions_release_id_releases"),
        ),
    )
    op.create_index("ix_status_transitions_release_at", "status_transitions", ["release_id", "at"])
    op.create_index(
        "ix_status_transitions_object_at",
        "status_transitions",
        ["release_id", "api_group", "kind", "namespace", "name", "at"],
    )
    op.create_index("ix_status_transitions_at", "status_transitions", ["at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        *_object_key(),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            ondelete="CASCADE",
            name=op.f("fk_events_release_id_releases"),
        ),
        sa.UniqueConstraint("uid", name=op.f("uq_events_uid")),
    )
    op.create_index("ix_events_release_last_seen", "events", ["release_id", "last_seen"])
    op.create_index(
        "ix_events_object_last_seen",
        "events",
        ["release_id", "api_group", "kind", "namespace", "name", "last_seen"],
    )
    op.create_index("ix_events_last_seen", "events", ["last_seen"])
    op.create_table(
        "operation_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_log")),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            ondelete="CASCADE",
            name=op.f("fk_operation_log_release_id_releases"),
        ),
        sa.UniqueConstraint("release_id", "revision", "seq", name=op.f("uq_operation_log_step")),
    )
    op.create_index("ix_operation_log_at", "operation_log", ["at"])


def downgrade() -> None:
    for table in (
        "operation_log",
        "events",
        "status_transitions",
        "resources",
        "revisions",
        "releases",
    ):
        op.drop_table(table)
