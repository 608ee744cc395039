"""SQLite shared by processes: a file locked by someone else is waited for, then retried."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from helmguard.store import ReleaseKey, ReleaseRecord, open_store, resolve
from helmguard.store.db import BUSY_TIMEOUT_MS, describe, is_busy


def _locked_error(path: Path) -> sqlite3.OperationalError:
    """SQLite's own error for a write lock held by another connection."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return exc
        finally:
            other.close()
        raise AssertionError("a second BEGIN IMMEDIATE was not refused")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_busy_is_recognised_and_explained(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    async with await open_store(str(db)):
        pass
    exc = _locked_error(db)
    assert is_busy(exc)
    assert not is_busy(sqlite3.OperationalError("no such table: x"))
    message = str(describe(exc, resolve(str(db))))
    assert message.startswith(f"cannot use database {db}: database is locked; another process")


async def test_a_write_outlasting_the_busy_timeout_is_retried_not_lost(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    key = ReleaseKey("shop", "web")
    async with await open_store(str(db)) as store:
        held = threading.Event()
        hold = BUSY_TIMEOUT_MS / 1000 + 1.0

        def other_process_transaction() -> None:
            # Another program keeps the write lock past SQLite's busy timeout.
            connection = sqlite3.connect(db, isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(hold)
            connection.execute("COMMIT")
            connection.close()

        thread = threading.Thread(target=other_process_transaction)
        thread.start()
        held.wait()
        started = time.monotonic()
        await store.record_release(ReleaseRecord(key, "web", "1.0.0"))
        waited = time.monotonic() - started
        await asyncio.to_thread(thread.join)
        assert (await store.get_release(key)) is not None
    assert hold - 1.5 < waited < hold + 3.0
