"""`helmguard serve` as a process: SIGKILLed mid-burst then restarted; one writer per file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, open_store
from kubeapi import wait_until


def helmguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "helmguard.cli", *args]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "serve.db"


@pytest.fixture
def serve_args(sandbox: Sandbox, db: Path) -> list[str]:
    return helmguard(
        "serve",
        "--db",
        str(db),
        "--kubeconfig",
        str(sandbox.kubeconfig),
        "--kube-context",
        sandbox.admin_context,
        "--no-api",
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start(
    args: list[str], processes: list[subprocess.Popen[bytes]], log: Path
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    processes.append(proc)
    return proc


def stored_states(db: Path, key: ReleaseKey) -> dict[ObjectRef, str]:
    import asyncio

    async def read() -> dict[ObjectRef, str]:
        async with await open_store(str(db), read_only=True) as store:
            return {r.ref: r.state for r in await store.list_resources(key)}

    try:
        return asyncio.run(read())
    except Exception:
        return {}


def cm(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/instance": "burst"}}}


def test_serve_killed_during_a_burst_restarts_and_catches_up(
    admin_http: httpx.Client,
    namespace: str,
    db: Path,
    serve_args: list[str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    key = ReleaseKey(namespace, "burst")
    managed = subprocess.run(
        helmguard("manage", "burst", "-n", namespace, "--db", str(db)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert managed.returncode == 0, managed.stderr
    first = start(serve_args, processes, tmp_path / "serve1.log")
    names = [f"cm-{i:02d}" for i in range(40)]
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in names[:10]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    wait_until(lambda: len(stored_states(db, key)) >= 5, "serve to store the first objects", 60)
    for name in names[10:25]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    os.kill(first.pid, signal.SIGKILL)  # mid-burst: writes may be queued or half-committed
    first.wait(10)
    for name in names[25:]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    for name in names[:5]:
        assert admin_http.delete(f"{path}/{name}").status_code == 200

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    start(serve_args, processes, tmp_path / "serve2.log")
    expected = {ObjectRef("", "ConfigMap", namespace, n): "Ready" for n in names[5:]}

    def caught_up() -> bool:
        states = stored_states(db, key)
        return all(states.get(ref) == state for ref, state in expected.items())

    wait_until(caught_up, "the restarted serve to catch up", 90)
    states = stored_states(db, key)
    # Objects seen before they were deleted are Missing; none is stale-but-Ready.
    for name in names[:5]:
        assert states.get(ObjectRef("", "ConfigMap", namespace, name)) in (None, "Missing")


def test_second_serve_on_the_same_sqlite_file_refuses_clearly(
    admin_http: httpx.Client,
    namespace: str,
    db: Path,
    serve_args: list[str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    first = start(serve_args, processes, tmp_path / "first.log")
    wait_until(
        lambda: "serve: syncing" in (tmp_path / "first.log").read_text(), "the first serve", 60
    )
    second = subprocess.run(serve_args, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode != 0
    assert "in use by another helmguard process" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.poll() is None  # the first one keeps running
