"""The SQLite store is created readable by its owner only, its WAL and shared-memory too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from helmguard.store import ReleaseKey, ReleaseRecord, open_store


def _modes(directory: Path) -> dict[str, int]:
    files = [p for p in directory.iterdir() if p.name.startswith("helmguard.db")]
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}


async def test_a_new_sqlite_store_is_0600_with_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "helmguard.db"
    old = os.umask(0o022)  # a usual umask would leave a plain file readable by everyone
    try:
        store = await open_store(str(path))
        try:
            await store.record_release(ReleaseRecord(ReleaseKey("ns", "r"), "c", "1", 1))
            assert await store.get_release(ReleaseKey("ns", "r")) is not None
            modes = _modes(tmp_path)
        finally:
            await store.close()
    finally:
        os.umask(old)
    assert modes["helmguard.db"] == 0o600, modes
    # WAL mode: while the store is open, its log and shared memory exist beside it.
    assert modes.get("helmguard.db-wal") == 0o600, modes
    assert modes.get("helmguard.db-shm") == 0o600, modes
