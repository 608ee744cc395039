"""Bad input gets one clear line (StoreError), never a traceback."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helmguard.store import StoreError, open_store, resolve
from helmguard.store.db import default_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/helmguard", "unsupported database URL scheme 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "unsupported database URL scheme 'postgresql+psycopg2'"),
        ("sqlite://", "in-memory SQLite database cannot be shared"),
        ("sqlite:///:memory:", "in-memory SQLite database cannot be shared"),
        ("/no/such/directory/helmguard.db", "directory /no/such/directory does not exist"),
    ],
)
async def test_unusable_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=re.escape(message)):
        await open_store(url)


async def test_unreachable_postgresql_names_the_server_and_hides_the_password() -> None:
    port = _closed_port()
    with pytest.raises(StoreError) as caught:
        await open_store(f"postgresql+asyncpg://helm:hunter2@127.0.0.1:{port}/helmguard")
    message = str(caught.value)
    assert (
        f"cannot use database postgresql+asyncpg://helm:***@127.0.0.1:{port}/helmguard" in message
    )
    assert "is PostgreSQL running and reachable" in message
    assert "hunter2" not in message and "\n" not in message


async def test_missing_postgresql_database_is_named(pg_admin_url: str) -> None:
    url = pg_admin_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match='database "no_such_database" does not exist'):
        await open_store(url)


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match=r"file is not a database; it is not a helmguard SQLite"):
        await open_store(str(path))
    assert path.read_text().startswith("these are my notes")  # left untouched


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELMGUARD_DB", raising=False)
    assert resolve(None).sqlite_path == default_path()
    assert resolve(None).is_default
    monkeypatch.setenv("HELMGUARD_DB", str(tmp_path / "env.db"))
    assert resolve(None).sqlite_path == tmp_path / "env.db"
    assert resolve(f"sqlite:///{tmp_path}/a.db").url.drivername == "sqlite+pysqlite"
    assert resolve(f"sqlite+aiosqlite:///{tmp_path}/a.db").url.drivername == "sqlite+pysqlite"
    assert resolve("postgres://u@h/db").url.drivername == "postgresql+asyncpg"
    assert resolve("postgresql://u:pw@h/db").display == "postgresql+asyncpg://u:***@h/db"


async def test_default_location_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELMGUARD_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    async with await open_store() as store:
        assert store.target.sqlite_path == tmp_path / "xdg" / "helmguard" / "helmguard.db"
    assert (tmp_path / "xdg" / "helmguard" / "helmguard.db").is_file()


async def test_cli_prints_one_line_and_no_traceback() -> None:
    port = _closed_port()
    runs = [
        ["db", "upgrade", "--db", "mysql://root@localhost/helmguard"],
        ["db", "upgrade", "--db", f"postgresql://u:secret@127.0.0.1:{port}/x"],
        ["db", "current", "--db", "/no/such/file.db"],
    ]
    for args in runs:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "helmguard.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done
        assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr and "secret" not in done.stderr
