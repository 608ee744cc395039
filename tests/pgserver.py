"""A throwaway PostgreSQL server for tests: initdb in a temp dir, started on a free loopback port.

Set HELMGUARD_TEST_PG_URL=postgresql+asyncpg://USER[:PASSWORD]@HOST:PORT/DB to use an existing
server instead (the user must be allowed to CREATE DATABASE).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ENV_VAR = "HELMGUARD_TEST_PG_URL"
# The admin URL of each server postgres_server runs -> how to restart it.
_RESTARTS: dict[str, Callable[[], None]] = {}
INSTALL_HINT = (
    "PostgreSQL server binaries not found (looked for /usr/lib/postgresql/*/bin/postgres); "
    "install Debian's `postgresql` package: apt-get install -y postgresql"
)


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin `postgresql+asyncpg://` URL of a running server; stop and remove it after.

    Raises RuntimeError(INSTALL_HINT) when the server binaries are missing.
    """
    existing = os.environ.get(ENV_VAR)
    if existing:
        yield existing
        return
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    home = Path(tempfile.mkdtemp(prefix="helmguard-pg-"))
    data, log = home / "data", home / "server.log"
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
    home.chmod(0o700)
    port = _free_port()
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"

        def start() -> None:
            started = subprocess.run(
                _as_postgres(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-o",
                        options,
                        "-l",
                        str(log),
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                ),
                capture_output=True,
                text=True,
            )
            if started.returncode != 0:
                detail = log.read_text() if log.exists() else started.stderr
                raise RuntimeError(f"PostgreSQL did not start: {started.stdout}{detail}")

        def restart() -> None:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=True,
            )
            start()

        start()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        _RESTARTS[url] = restart
        try:
            yield url
        finally:
            _RESTARTS.pop(url, None)
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def restart_server(admin_url: str) -> None:
    """Stop the server of `admin_url` (fast: every connection dropped), start it on the same port.

    Only for a server postgres_server started (not $HELMGUARD_TEST_PG_URL's): KeyError.
    """
    _RESTARTS[admin_url]()


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver, for asyncpg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(admin_url: str, prefix: str = "hg") -> AsyncIterator[str]:
    """A new, empty database on the server of `admin_url`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(libpq_url(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(libpq_url(admin_url))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
