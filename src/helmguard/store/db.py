"""Opening the database: URL resolution, engines, and SQLite shared by many processes.

Any number of helmguard processes (deploys, status, serve) use one SQLite file: WAL (readers
never wait for the writer), a busy timeout, one short BEGIN IMMEDIATE transaction per batch,
and a bounded retry with backoff when the file stays locked past the timeout.
`open_store` is the one entry point; `upgrade_database` and `database_revision` serve
`helmguard db upgrade` / `helmguard db current`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import platformdirs
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import SingletonThreadPool

from helmguard.store import migrate
from helmguard.store.env import ENV_VAR
from helmguard.store.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# SQLite waits this long for another process's write transaction before reporting busy ...
BUSY_TIMEOUT_MS = 5_000
# ... then a transaction is retried this many times, after 0.05, 0.1, 0.2, 0.4 s (+ jitter).
BUSY_RETRIES = 4
CONNECT_TIMEOUT_S = 10.0
T = TypeVar("T")


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's SQLITE_BUSY or SQLITE_LOCKED (another connection holds a lock)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    # The primary code: extended ones (SQLITE_BUSY_SNAPSHOT, ...) carry it in the low byte.
    code = int(getattr(orig, "sqlite_errorcode", 0) or 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _backoff(attempt: int) -> float:
    return float(0.05 * 2**attempt) * (1 + random.random() / 2)


def retry_busy_sync(work: Callable[[], T]) -> T:
    """Run `work`; while SQLite reports busy, run it again after a backoff (bounded)."""
    for attempt in range(BUSY_RETRIES):
        try:
            return work()
        except Exception as exc:
            if not is_busy(exc):
                raise
        time.sleep(_backoff(attempt))
    return work()


def default_path() -> Path:
    """`helmguard.db` in the user's data directory (e.g. ~/.local/share/helmguard/)."""
    return Path(platformdirs.user_data_dir("helmguard")) / "helmguard.db"


@dataclass(frozen=True)
class Target:
    """A resolved database: the URL to connect with (sqlite3, asyncpg); for SQLite, the file."""

    url: URL
    sqlite_path: Path | None
    is_default: bool

    @property
    def display(self) -> str:
        """The URL with any password hidden: safe for messages and logs."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return self.url.render_as_string(hide_password=True)


_SUPPORTED = "a file path, sqlite:///PATH, or postgresql+asyncpg://USER@HOST:PORT/DATABASE"


def resolve(url: str | None) -> Target:
    """Pick the database: `url`, else $HELMGUARD_DB, else the default SQLite file.

    A bare path means a SQLite file (Python's sqlite3); `postgresql://` gets asyncpg.
    """
    raw = url or os.environ.get(ENV_VAR) or ""
    is_default = not raw
    if not raw or "://" not in raw:
        path = Path(raw).expanduser() if raw else default_path()
        return Target(
            URL.create("sqlite+pysqlite", database=str(path.absolute())), path, is_default
        )
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"{raw.split('@')[-1]!r} is not a database URL; use {_SUPPORTED}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        if not parsed.database or parsed.database == ":memory:" or "mode=memory" in raw:
            raise StoreError(
                "an in-memory SQLite database cannot be shared by helmguard's writer and "
                "readers; give a file path, e.g. sqlite:////var/lib/helmguard/helmguard.db"
            )
        path = Path(parsed.database).expanduser().absolute()
        return Target(parsed.set(drivername="sqlite+pysqlite", database=str(path)), path, False)
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        return Target(parsed.set(drivername="postgresql+asyncpg"), None, False)
    raise StoreError(f"unsupported database URL scheme {parsed.drivername!r}; use {_SUPPORTED}")


def describe(exc: BaseException, target: Target) -> StoreError:
    """One line a user can act on, for any failure to reach or use the database."""
    if isinstance(exc, StoreError):
        return exc
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    if target.sqlite_path is None:
        reach = isinstance(exc, OSError) or "connect" in detail.lower()
        hint = "; is PostgreSQL running and reachable at that address?" if reach else ""
        return StoreError(f"cannot use database {target.display}: {detail}{hint}")
    hint = ""
    if "not a database" in detail or "malformed" in detail:
        hint = "; it is not a helmguard SQLite database: move it away or give another --db"
    elif "unable to open" in detail:
        hint = f"; check that {target.sqlite_path.parent} exists and is writable"
    elif is_busy(exc):
        waited = BUSY_TIMEOUT_MS / 1000 * (BUSY_RETRIES + 1)
        hint = (
            f"; another process kept it locked for over {waited:.0f} s (a `sqlite3` shell "
            "left in a transaction?)"
        )
    return StoreError(f"cannot use database {target.display}: {detail}{hint}")


def _tune_sqlite(engine: Engine, *, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from sqlite3 so transactions cover reads and DDL too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if writer:
            cursor.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL loses at most the last commits on power loss, never integrity.
            cursor.execute("PRAGMA synchronous=NORMAL")
        else:
            cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # The writer takes the write lock up front, so it waits (busy_timeout) for another
        # process's transaction instead of failing when a read would turn into a write.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


# Read connections (and threads) a SQLite store keeps at most: reads run concurrently.
SQLITE_READERS = 8


def _asyncpg_engine(target: Target, *, writer: bool) -> AsyncEngine:
    """PostgreSQL's engine; SQLAlchemy's asyncio extension (and its ORM) loads only here."""
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(
        target.url,
        pool_size=1 if writer else 5,
        max_overflow=1 if writer else 5,
        pool_pre_ping=True,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )


class Backend:
    """Runs a synchronous function on a connection and returns its result: for a writer inside
    one write transaction, for a reader inside a read-only one.

    SQLite: a plain sqlite3 engine on the backend's own threads, one for the writer (a whole
    batch costs one thread hop instead of several per statement), a few for readers.
    PostgreSQL: the asyncpg engine via run_sync.
    """

    def __init__(self, target: Target, *, writer: bool) -> None:
        self._writer = writer
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._threads: ThreadPoolExecutor | None = None
        if target.sqlite_path is None:
            self._async = _asyncpg_engine(target, writer=writer)
            return
        timeout = {"timeout": BUSY_TIMEOUT_MS / 1000}
        if writer:
            self._sync = sa_create_engine(
                target.url, poolclass=SingletonThreadPool, connect_args=timeout
            )
        else:
            half = SQLITE_READERS // 2
            self._sync = sa_create_engine(
                target.url, pool_size=half, max_overflow=SQLITE_READERS - half, connect_args=timeout
            )
        _tune_sqlite(self._sync, writer=writer)
        self._threads = ThreadPoolExecutor(
            1 if writer else SQLITE_READERS,
            thread_name_prefix="helmguard-sqlite-" + ("writer" if writer else "reader"),
        )

    def _on_thread(self, work: Callable[[Connection], T]) -> T:
        engine = self._sync
        assert engine is not None

        def once() -> T:
            if self._writer:
                with engine.begin() as connection:
                    return work(connection)
            with engine.connect() as connection:
                return work(connection)

        return retry_busy_sync(once)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` inside BEGIN … COMMIT for a writer (ROLLBACK if it raises), BEGIN …
        ROLLBACK for a reader.

        On SQLite a transaction that finds the file locked by another process is rolled back
        and run again (bounded, with backoff), so `work` must touch nothing but `connection`.
        """
        if self._async is not None:
            if self._writer:
                async with self._async.begin() as connection:
                    return await connection.run_sync(work)
            async with self._async.connect() as connection:
                return await connection.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._on_thread, work
        )

    async def dispose(self) -> None:
        """Close the connection(s) and the threads."""
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None and self._threads is not None:
            await asyncio.get_running_loop().run_in_executor(self._threads, self._sync.dispose)
            self._threads.shutdown(wait=False)


def prepare_sqlite_file(target: Target, *, create: bool) -> None:
    """Create the default data directory; refuse a missing file when not creating."""
    path = target.sqlite_path
    if path is None:
        return
    if not create and not path.exists():
        raise StoreError(
            f"no helmguard database at {path}; run `helmguard db upgrade` to create it"
        )
    if target.is_default:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif not path.parent.is_dir():
        raise StoreError(f"cannot use database {path}: directory {path.parent} does not exist")
    if create and not path.exists():
        # 0600 from the start (SQLite gives its -wal and -shm files the same mode): plans,
        # operation logs and events are nobody else's business.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def upgrade_database(url: str | None) -> tuple[str, str]:
    """Migrate the database to this helmguard's head; return (display URL, revision)."""
    target = resolve(url)
    prepare_sqlite_file(target, create=True)
    backend = Backend(target, writer=True)
    try:
        head = await backend.run(migrate.upgrade)
    except Exception as exc:
        raise describe(exc, target) from exc
    finally:
        await backend.dispose()
    return target.display, head


async def database_revision(url: str | None) -> tuple[str, str | None, str]:
    """Read-only: (display URL, the database's migration or None if empty, this code's head)."""
    target = resolve(url)
    prepare_sqlite_file(target, create=False)
    reader = Backend(target, writer=False)
    try:
        current = await reader.run(migrate.current_revision)
    except Exception as exc:
        raise describe(exc, target) from exc
    finally:
        await reader.dispose()
    return target.display, current, migrate.HEAD
