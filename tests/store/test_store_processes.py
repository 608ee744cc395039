"""Real processes: many writers on one database at once, and SIGKILL in the middle of a burst."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from helmguard.store import ReleaseKey, open_store

WORKER = Path(__file__).parent / "store_worker.py"


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def run_worker(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the worker to completion without blocking the event loop."""
    argv = [sys.executable, str(WORKER), *args]
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=300
    )


def read_until(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()
    error = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"worker ended without {prefix!r}: {process.wait()} {error}")


WRITERS = 4
WRITES = 300


async def test_concurrent_writer_processes_share_one_database_and_lose_nothing(
    db_url: str,
) -> None:
    # A long-lived writer holds the store open the whole time, as a running `serve` does;
    # all start at once on an empty database, so they also race to create and migrate it.
    holder = spawn("hold", db_url)
    try:
        runs = await asyncio.gather(
            *(run_worker("burst", db_url, f"w{i}", str(WRITES)) for i in range(WRITERS))
        )
        read_until(holder, "ready")
        for run in runs:
            assert run.returncode == 0, run.stdout + run.stderr
            assert run.stdout.splitlines()[-1] == f"committed {WRITES}"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    async with await open_store(db_url, read_only=True) as reader:
        for i in range(WRITERS):
            release = ReleaseKey("shop", f"w{i}")
            history = list(reversed(await reader.history(release, limit=10**6)))
            resources = await reader.list_resources(release)
            # Every acknowledged write is there once, in order: each Pod's chain is unbroken.
            assert [int(t.message.split()[1]) for t in history] == list(range(WRITES))
            last_state: dict[str, str | None] = {}
            for transition in history:
                assert transition.from_state == last_state.get(transition.ref.name), transition
                last_state[transition.ref.name] = transition.to_state
            assert {r.ref.name: r.state for r in resources} == last_state


async def test_sigkill_mid_burst_leaves_a_database_a_new_process_continues(
    db_url: str, backend: str
) -> None:
    writer = spawn("burst", db_url, "web", "100000")
    try:
        read_until(writer, "committed 1000")
        last = read_until(writer, "committed")
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=60)
    acknowledged = int(last.split()[1])

    if backend == "sqlite":
        path = db_url
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    successor = await run_worker("burst", db_url, "web", "500")
    assert successor.returncode == 0, successor.stdout + successor.stderr
    started = int(successor.stdout.split("start ")[1].split()[0])
    # Every acknowledged write survived the kill; unacknowledged ones may or may not have.
    assert started >= acknowledged

    release = ReleaseKey("shop", "web")
    async with await open_store(db_url, read_only=True) as reader:
        history = list(reversed(await reader.history(release, limit=10**6)))
        resources = await reader.list_resources(release)
    assert len(history) == started + 500
    # No torn batch: each Pod's history is an unbroken chain, and its row is the chain's end.
    last_state: dict[str, str | None] = {}
    for transition in history:
        assert transition.from_state == last_state.get(transition.ref.name), transition
        last_state[transition.ref.name] = transition.to_state
    assert {r.ref.name: r.state for r in resources} == last_state
    assert len(resources) == 20
