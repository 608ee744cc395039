"""The Store (typed async writes through the single writer, concurrent reads, retention) and
`open_store`, which migrates and opens it."""

from __future__ import annotations

from helmguard.store import migrate
from helmguard.store.clusters_read import ClusterReads
from helmguard.store.core import Retention
from helmguard.store.db import Backend, describe, prepare_sqlite_file, resolve
from helmguard.store.errors import StoreError
from helmguard.store.leases import SyncLeases
from helmguard.store.logs import LogWrites
from helmguard.store.reads import Reads
from helmguard.store.registry import ClusterRegistry
from helmguard.store.releases import ReleaseWrites
from helmguard.store.repositories import Repositories
from helmguard.store.statuses import StatusWrites
from helmguard.store.writer import BatchWriter


class Store(
    StatusWrites,
    ReleaseWrites,
    LogWrites,
    SyncLeases,
    Repositories,
    ClusterRegistry,
    Reads,
    ClusterReads,
):
    """helmguard's durable state. Writes go through one writer task; reads run concurrently.

    Build it with `open_store`; close it with `await store.close()` or `async with`. Each
    concern is a part of its own module: statuses, releases, logs, leases, repositories,
    registry (the clusters registered), reads, clusters_read (the clusters seen).
    """


async def open_store(
    url: str | None = None,
    *,
    read_only: bool = False,
    retention: Retention | None = None,
    max_batch: int = 500,
) -> Store:
    """Open (and migrate to head) helmguard's database; raise StoreError with a one-line reason.

    `url`: a file path, `sqlite:///PATH` or `postgresql+asyncpg://…`; None means
    $HELMGUARD_DB, else `helmguard.db` in the user's data directory. Any number of processes
    may open the same database for writing at once (a SQLite file too: see `helmguard.store.db`);
    `read_only` does not migrate, and the database must already be at this code's head.
    """
    target = resolve(url)
    prepare_sqlite_file(target, create=not read_only)
    backend: Backend | None = None
    reader = Backend(target, writer=False)
    try:
        if read_only:
            current = await reader.run(migrate.current_revision)
            if current != migrate.HEAD:
                raise StoreError(
                    f"database {target.display} is at migration {current or '(none)'}, this "
                    f"helmguard needs {migrate.HEAD}; run `helmguard db upgrade`"
                )
            return Store(target, reader, None, None, retention or Retention())
        backend = Backend(target, writer=True)
        await backend.run(migrate.upgrade)
    except BaseException as exc:
        await reader.dispose()
        if backend is not None:
            await backend.dispose()
        if isinstance(exc, Exception):
            raise describe(exc, target) from exc
        raise
    writer = BatchWriter(backend, lambda exc: describe(exc, target), max_batch=max_batch)
    writer.start()
    return Store(target, reader, writer, backend, retention or Retention())
