"""The store's core: its engines and writer, and the SQL helpers every part of it shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.engine import Connection, Row

from helmguard.manifest import ObjectRef
from helmguard.redact import canonical_json, redact_secrets
from helmguard.store.db import Backend, Target, describe
from helmguard.store.errors import StoreError
from helmguard.store.models import Release
from helmguard.store.records import ReleaseKey, ReleaseSummary
from helmguard.store.writer import BatchWriter

R = TypeVar("R")


@dataclass(frozen=True)
class Retention:
    """How much history `prune_history` keeps: by age, and by count per object."""

    max_age_days: float | None = 30.0
    max_transitions_per_object: int | None = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_json(value: Any) -> Any:
    """Secrets redacted, then normalised to what JSON can hold (tuples -> lists, dates -> text)."""
    return json.loads(canonical_json(redact_secrets(value)))


def key_columns(ref: ObjectRef) -> dict[str, str]:
    return {"api_group": ref.group, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def where_ref(table: Table, ref: ObjectRef) -> list[Any]:
    return [
        table.c.api_group == ref.group,
        table.c.kind == ref.kind,
        table.c.namespace == ref.namespace,
        table.c.name == ref.name,
    ]


def release_id_query(key: ReleaseKey) -> Select[int]:
    return select(Release.c.id).where(
        Release.c.cluster == key.cluster,
        Release.c.namespace == key.namespace,
        Release.c.name == key.name,
    )


# The sync's hot path (a status write per watch notification) uses statements built once with
# bound parameters: building and cache-keying a statement per call cost more than running it.
_RELEASE_ID = select(Release.c.id).where(
    Release.c.cluster == bindparam("k_cluster"),
    Release.c.namespace == bindparam("k_namespace"),
    Release.c.name == bindparam("k_name"),
)


def find_release_id(connection: Connection, key: ReleaseKey) -> int | None:
    release_id: int | None = connection.execute(
        _RELEASE_ID,
        {"k_cluster": key.cluster, "k_namespace": key.namespace, "k_name": key.name},
    ).scalar_one_or_none()
    return release_id


def release_id_of(connection: Connection, key: ReleaseKey) -> int:
    release_id = find_release_id(connection, key)
    if release_id is None:
        raise StoreError(f"release {key} is not recorded; record_release() it first")
    return release_id


class StoreCore:
    """What every part of the Store builds on: the read engine, the writer, closing.

    The Store (helmguard.store.store) is this plus one part per concern.
    """

    def __init__(
        self,
        target: Target,
        reader: Backend,
        writer: BatchWriter | None,
        backend: Backend | None,
        retention: Retention,
    ) -> None:
        self.target = target
        self.retention = retention
        self._read = reader
        self._writer = writer
        self._backend = backend
        # The release list's answer and the version it was computed at (see Reads).
        self._summaries: tuple[tuple[Any, ...], list[ReleaseSummary]] | None = None

    @property
    def url(self) -> str:
        """Where the data lives, password hidden."""
        return self.target.display

    @property
    def read_only(self) -> bool:
        return self._writer is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit queued writes, then release the connections."""
        try:
            if self._writer is not None:
                await self._writer.close()
        finally:
            if self._backend is not None:
                await self._backend.dispose()
            await self._read.dispose()

    def _require_writer(self) -> BatchWriter:
        if self._writer is None:
            raise StoreError(f"database {self.url} was opened read-only")
        return self._writer

    async def flush(self) -> None:
        """Return once every write queued so far is committed; raise if any of them failed."""
        await self._require_writer().flush()

    async def _write(self, op: Any, wait: bool) -> None:
        writer = self._require_writer()
        if wait:
            await writer.submit(op)
        else:
            writer.post(op)

    async def _read_with(self, work: Callable[[Connection], R]) -> R:
        """Run `work` on a read connection; any failure as a StoreError a user can act on."""
        try:
            return await self._read.run(work)
        except StoreError:
            raise
        except Exception as exc:
            raise describe(exc, self.target) from exc

    async def _rows(self, query: Any) -> list[Row[Any]]:
        return await self._read_with(lambda connection: list(connection.execute(query).all()))
