"""The app status is a column of the release, no longer a pseudo-resource row.

The sync used to store a release's app status as a `resources` row of group helmguard.io,
kind Release, and to copy its state into `releases.status`. Those rows move to the
`app_*` columns; `status` is again what the last operation left (its latest revision's outcome).
Transitions stay in history under that pseudo key, as before.

Revision ID: 0004_release_app_status
Revises: 0003_revision_inventory
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmguard.store.models import JSONType, UTCDateTime

revision = "0004_release_app_status"
down_revision: str | None = "0003_revision_inventory"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ("state", "reason", "message", "since", "observed_at", "root_cause")
# What the sync wrote into releases.status (the app states), as opposed to an outcome.
_APP_STATES = (
    "Ready",
    "Progressing",
    "Blocked",
    "Failed",
    "Terminating",
    "Missing",
    "Unknown",
)


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("app_state", sa.String(32), nullable=True))
        batch.add_column(sa.Column("app_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("app_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("app_since", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("app_observed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("app_root_cause", JSONType, nullable=True))
    pseudo = (
        "FROM resources r WHERE r.release_id = releases.id "
        "AND r.api_group = 'helmguard.io' AND r.kind = 'Release'"
    )
    assignments = ", ".join(f"app_{c} = (SELECT r.{c} {pseudo})" for c in _COLUMNS)
    op.execute(f"UPDATE releases SET {assignments} WHERE EXISTS (SELECT 1 {pseudo})")
    op.execute("DELETE FROM resources WHERE api_group = 'helmguard.io' AND kind = 'Release'")
    # A status the sync overwrote goes back to the outcome of the release's latest revision.
    states = ", ".join(f"'{s}'" for s in _APP_STATES)
    revisions = "FROM revisions v WHERE v.release_id = releases.id"
    op.execute(
        f"UPDATE releases SET status = (SELECT v.outcome {revisions} "
        f"ORDER BY v.number DESC LIMIT 1) WHERE status IN ({states}) "
        f"AND EXISTS (SELECT 1 {revisions})"
    )


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        for column in _COLUMNS:
            batch.drop_column(f"app_{column}")
