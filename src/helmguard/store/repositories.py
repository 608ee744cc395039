"""The chart catalogue: registered chart repositories and their cached indexes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from helmguard.store.core import StoreCore, utc_now
from helmguard.store.models import ChartRepository
from helmguard.store.records import RepositoryRecord


class Repositories(StoreCore):
    """Registering, indexing, forgetting and reading chart repositories."""

    async def add_repository(self, repository: RepositoryRecord) -> bool:
        """Register a repository; False (nothing written) if one of that name exists."""
        values = {
            "url": repository.url,
            "kind": repository.kind,
            "username": repository.username,
            "secret": repository.secret,
            "ca_file": repository.ca_file,
            "insecure": repository.insecure,
            "added_at": repository.added_at or utc_now(),
            "index": None,
            "index_fetched_at": None,
        }

        def op(connection: Connection) -> bool:
            exists = connection.execute(
                select(ChartRepository.c.id).where(ChartRepository.c.name == repository.name)
            ).first()
            if exists is not None:
                return False
            connection.execute(insert(ChartRepository).values(name=repository.name, **values))
            return True

        return bool(await self._require_writer().submit(op))

    async def set_repository_index(
        self, name: str, index: Sequence[Mapping[str, Any]], fetched_at: datetime
    ) -> bool:
        """Store a repository's freshly read index; False if the repository is not registered."""
        entries = [dict(e) for e in index]

        def op(connection: Connection) -> bool:
            result = connection.execute(
                update(ChartRepository)
                .where(ChartRepository.c.name == name)
                .values(index=entries, index_fetched_at=fetched_at)
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def remove_repository(self, name: str) -> bool:
        """Forget a repository, its credentials and its index; False if it was not registered."""

        def op(connection: Connection) -> bool:
            result = connection.execute(
                delete(ChartRepository).where(ChartRepository.c.name == name)
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def list_repositories(self, *, with_index: bool = False) -> list[RepositoryRecord]:
        """Every registered repository by name; their cached indexes only if asked."""
        rows = await self._rows(select(ChartRepository).order_by(ChartRepository.c.name))
        return [_repository_record(row, with_index) for row in rows]

    async def get_repository(self, name: str) -> RepositoryRecord | None:
        """One repository with its cached index, or None."""
        rows = await self._rows(select(ChartRepository).where(ChartRepository.c.name == name))
        return _repository_record(rows[0], True) if rows else None


def _repository_record(row: Any, with_index: bool) -> RepositoryRecord:
    index = tuple(row.index) if with_index and row.index is not None else None
    return RepositoryRecord(
        name=row.name,
        url=row.url,
        kind=row.kind,
        username=row.username,
        secret=row.secret,
        ca_file=row.ca_file,
        insecure=bool(row.insecure),
        added_at=row.added_at,
        index=index,
        index_fetched_at=row.index_fetched_at,
    )
