"""Writes of releases and their revisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from helmguard.store.core import StoreCore, release_id_of, release_id_query, to_json, utc_now
from helmguard.store.errors import StoreError
from helmguard.store.models import Release, Revision
from helmguard.store.records import InventoryItem, ReleaseKey, ReleaseRecord, RevisionRecord
from helmguard.store.rows import inventory_json


class ReleaseWrites(StoreCore):
    """Writes of release rows and revisions."""

    async def record_release(
        self,
        release: ReleaseRecord,
        *,
        revision: RevisionRecord | None = None,
        wait: bool = True,
    ) -> None:
        """Create or update a release's row (chart, version, current revision, status);
        with `revision`, that revision is recorded in the same transaction (a reader never
        sees the release without it)."""

        def op(connection: Connection) -> None:
            _write_release(connection, release)
            if revision is not None:
                _write_revision(connection, revision)

        await self._write(op, wait)

    async def delete_release(
        self, key: ReleaseKey, *, unchanged_since: datetime | None = None
    ) -> bool:
        """Forget a release and everything recorded about it; False if it was not recorded.

        With `unchanged_since` (the `updated_at` the caller read), only if nothing wrote the
        release's row since: a decision made on what was read is not applied to a newer state.
        """

        def op(connection: Connection) -> bool:
            where = [
                Release.c.cluster == key.cluster,
                Release.c.namespace == key.namespace,
                Release.c.name == key.name,
            ]
            if unchanged_since is not None:
                where.append(Release.c.updated_at == unchanged_since)
            result = connection.execute(delete(Release).where(*where))
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def record_revision(self, revision: RevisionRecord, *, wait: bool = True) -> None:
        """Create or replace one revision of a recorded release; Secrets in `plan` are redacted."""
        await self._write(lambda connection: _write_revision(connection, revision), wait)

    async def finish_revision(
        self,
        key: ReleaseKey,
        number: int,
        outcome: str,
        *,
        finished_at: datetime | None = None,
        inventory: Sequence[InventoryItem] | None = None,
        release: ReleaseRecord | None = None,
        wait: bool = True,
    ) -> None:
        """Set a recorded revision's outcome and finish time (and its inventory, if given);
        with `release`, the release's row is written in the same transaction (a reader never
        sees the revision settled with the release's status still the running operation's)."""
        values: dict[str, Any] = {"outcome": outcome, "finished_at": finished_at or utc_now()}
        if inventory is not None:
            values["inventory"] = inventory_json(inventory)

        def op(connection: Connection) -> None:
            release_id = release_id_of(connection, key)
            result = connection.execute(
                update(Revision)
                .where(Revision.c.release_id == release_id, Revision.c.number == number)
                .values(**values)
            )
            if not result.rowcount:
                raise StoreError(f"release {key} has no recorded revision {number}")
            if release is not None:
                _write_release(connection, release)

        await self._write(op, wait)


def _write_release(connection: Connection, release: ReleaseRecord) -> None:
    key = release.key
    values = {
        "chart": release.chart,
        "chart_version": release.chart_version,
        "current_revision": release.current_revision,
        "status": release.status,
        "updated_at": release.updated_at or utc_now(),
    }
    existing = (connection.execute(release_id_query(key))).scalar_one_or_none()
    if existing is None:
        connection.execute(
            insert(Release).values(
                cluster=key.cluster, namespace=key.namespace, name=key.name, **values
            )
        )
    else:
        connection.execute(update(Release).where(Release.c.id == existing).values(**values))


def _write_revision(connection: Connection, revision: RevisionRecord) -> None:
    values = {
        "chart": revision.chart,
        "chart_version": revision.chart_version,
        "values_digest": revision.values_digest,
        "plan": to_json(revision.plan) if revision.plan is not None else None,
        "outcome": revision.outcome,
        "started_at": revision.started_at,
        "finished_at": revision.finished_at,
        "inventory": inventory_json(revision.inventory),
    }
    release_id = release_id_of(connection, revision.release)
    existing = (
        connection.execute(
            select(Revision.c.id).where(
                Revision.c.release_id == release_id, Revision.c.number == revision.number
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        connection.execute(
            insert(Revision).values(release_id=release_id, number=revision.number, **values)
        )
    else:
        connection.execute(update(Revision).where(Revision.c.id == existing).values(**values))
