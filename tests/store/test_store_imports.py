"""A SQLite store is opened, written and read with SQLAlchemy Core and sqlite3 alone: the ORM,
the asyncio extension, the PostgreSQL dialect and (on a current schema) Alembic stay unloaded,
since a CLI deploy imports the store on its critical path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_NOT_ON_SQLITE = (
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql",
    "asyncpg",
    "aiosqlite",
    "alembic",
)

_PROBE = """
import asyncio, sys
from datetime import UTC, datetime
from helmguard.store import ReleaseKey, ReleaseRecord, RevisionRecord, open_store

async def main(path, name):
    key = ReleaseKey("shop", name)
    async with await open_store(path) as store:
        revision = RevisionRecord(key, 1, "web", "1.0.0", "d", datetime.now(UTC), plan={"a": [1]})
        await store.record_release(ReleaseRecord(key, "web", "1.0.0"), revision=revision)
        await store.add_operation_log(key, 1, "apply", "applied", details={"n": 1})
        await store.flush()
        assert key in [r.key for r in await store.list_releases()]
        assert [e.step for e in await store.operation_log(key, 1)] == ["apply"]
        assert (await store.list_revisions(key))[0].plan == {"a": [1]}

asyncio.run(main(sys.argv[1], sys.argv[2]))
print("loaded:", *sorted(m for m in NAMES if m in sys.modules))
"""


def _probe(db: Path, release: str) -> list[str]:
    code = f"NAMES = {_NOT_ON_SQLITE!r}\n{_PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), release], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("loaded:"), done.stdout
    return line.split()[1:]


def test_a_sqlite_store_loads_neither_the_orm_nor_asyncio_nor_postgresql(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    # The first open migrates the new file: Alembic is loaded for that (with the dialects
    # its operations know), and only that.
    assert _probe(db, "web") == ["alembic", "sqlalchemy.dialects.postgresql"]
    assert _probe(db, "api") == []
