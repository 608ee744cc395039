"""Three `serve --leader-elect` replicas on one PostgreSQL database and one sandbox.

The leader is SIGKILLed during a burst of changes: another replica takes the cluster's
Lease over within the lease duration plus the retry period (short timings here), and
the store ends with exactly the transitions the objects went through, none twice; a
follower's /api/stream relays what the leaders commit; PostgreSQL restarted mid-sync:
the replicas reconnect and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, open_store
from helmguard.sync.leader import JITTER_FACTOR
from kubeapi import wait_until
from pgserver import ENV_VAR as PG_ENV_VAR
from pgserver import fresh_database, restart_server
from processes import free_port, helmguard

TOKEN = "failover-test-token-5d2e-long-enough-for-serve"
LEASE, RENEW, RETRY = 4.0, 3.0, 0.5


@pytest.fixture
async def db_url(pg_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(pg_admin_url) as url:
        yield url


def _states(url: str, key: ReleaseKey) -> dict[ObjectRef, str]:
    async def read() -> dict[ObjectRef, str]:
        async with await open_store(url, read_only=True) as store:
            return {r.ref: r.state for r in await store.list_resources(key)}

    try:
        return asyncio.run(read())
    except Exception:  # the database restarting
        return {}


def _transitions(url: str, key: ReleaseKey) -> list[tuple[str, str | None, str]]:
    """(name, from, to) of every stored ConfigMap transition of the release."""

    async def read() -> list[tuple[str, str | None, str]]:
        async with await open_store(url, read_only=True) as store:
            history = await store.history(key, limit=10_000)
            # The ConfigMaps' (the release's own app status history is another story).
            return [
                (t.ref.name, t.from_state, t.to_state) for t in history if t.ref.kind == "ConfigMap"
            ]

    return asyncio.run(read())


def _holder(admin_http: httpx.Client, namespace: str) -> dict[str, Any] | None:
    got = admin_http.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/sync")
    spec = got.json().get("spec", {}) if got.status_code == 200 else {}
    return spec if spec.get("holderIdentity") else None


def _read_stream(
    url: str, into: list[dict[str, Any]], connected: threading.Event, stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        event, data = "message", ""
        with contextlib.suppress(httpx.HTTPError):
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data += line[6:]
                elif line == "" and data:
                    if event == "transition":
                        into.append(json.loads(data))
                    event, data = "message", ""
                elif line.startswith(": connected"):
                    connected.set()


def cm(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/instance": "burst"}}}


def test_leader_killed_mid_burst_another_takes_over_and_nothing_is_lost_or_doubled(
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    db_url: str,
    pg_admin_url: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    if os.environ.get(PG_ENV_VAR):
        pytest.skip("PostgreSQL is restarted by this test: it needs its own server")
    key = ReleaseKey(namespace, "burst")
    managed = subprocess.run(
        helmguard("manage", "burst", "-n", namespace, "--db", db_url),
        capture_output=True,
        text=True,
        check=False,
    )
    assert managed.returncode == 0, managed.stderr
    env = {**os.environ, "HELMGUARD_API_TOKEN": TOKEN}
    ports = [free_port() for _ in range(3)]
    replicas: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
    for i, port in enumerate(ports):
        log = (tmp_path / f"replica{i}.log").open("wb")
        proc = subprocess.Popen(
            helmguard(
                "serve",
                "--db",
                db_url,
                "--kubeconfig",
                str(sandbox.kubeconfig),
                "--kube-context",
                sandbox.admin_context,
                "--port",
                str(port),
                "--leader-elect",
                "--leader-elect-lease-name",
                "sync",
                "--leader-elect-lease-namespace",
                namespace,
                f"--leader-elect-lease-duration={LEASE}",
                f"--leader-elect-renew-deadline={RENEW}",
                f"--leader-elect-retry-period={RETRY}",
                *(["--read-only"] if i == 2 else []),
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        processes.append(proc)
        replicas[proc.pid] = (proc, port)

    def leader_pid() -> int | None:
        spec = _holder(admin_http, namespace)
        pid = int(spec["holderIdentity"].split("_")[-2]) if spec else 0
        return pid if pid in replicas else None

    first = wait_until(leader_pid, "a replica to lead", 180)

    def ready(port: int) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        return False

    wait_until(lambda: all(ready(p) for _, p in replicas.values()) or None, "all ready", 120)
    offered = [
        httpx.get(
            f"http://127.0.0.1:{p}/api/info", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()["deploy"]
        for p in ports
    ]
    assert offered == [True, True, False]  # the third runs --read-only
    follower_port = next(p for pid, (_, p) in replicas.items() if pid != first)
    relayed: list[dict[str, Any]] = []
    connected, stop = threading.Event(), threading.Event()
    reader = threading.Thread(
        target=_read_stream,
        args=(f"http://127.0.0.1:{follower_port}/api/stream", relayed, connected, stop),
        daemon=True,
    )
    reader.start()
    assert connected.wait(30), "the follower's stream did not open"

    names = [f"cm-{i:02d}" for i in range(40)]
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in names[:10]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    wait_until(lambda: len(_states(db_url, key)) >= 10 or None, "the first objects stored", 60)
    for name in names[10:25]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    killed_at = datetime.now(UTC)
    os.kill(first, signal.SIGKILL)  # mid-burst: changes seen, not all committed
    replicas[first][0].wait(10)
    for name in names[25:35]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    for name in names[:5]:  # stored Ready before the kill: each goes Ready -> Missing once
        assert admin_http.delete(f"{path}/{name}").status_code == 200

    second = wait_until(lambda: (p := leader_pid()) != first and p, "another leader", 60)
    spec = _holder(admin_http, namespace)
    assert spec is not None
    acquired = datetime.fromisoformat(spec["acquireTime"])
    gap = (acquired - killed_at).total_seconds()
    # The last renewal seen is at most one (jittered) retry before the kill; the lease
    # runs from then, and the next attempt after expiry comes within one more.
    assert 0 < gap < LEASE + 2 * JITTER_FACTOR * RETRY + 2 * RETRY + 1.0, gap
    assert spec["leaseTransitions"] >= 1

    # PostgreSQL restarted mid-sync, with changes while it is down and after.
    restart_server(pg_admin_url)
    for name in names[35:]:
        assert admin_http.post(path, json=cm(name)).status_code == 201
    expected = {ObjectRef("", "ConfigMap", namespace, n): "Ready" for n in names[5:]}
    expected |= {ObjectRef("", "ConfigMap", namespace, n): "Missing" for n in names[:5]}

    def caught_up() -> bool | None:
        states = _states(db_url, key)
        return all(states.get(ref) == state for ref, state in expected.items()) or None

    wait_until(caught_up, "the new leader to store every change", 120)
    assert leader_pid() == second  # the restart did not cost the leadership
    transitions = _transitions(db_url, key)
    counted = Counter(transitions)
    doubled = {t: n for t, n in counted.items() if n > 1}
    assert not doubled, doubled
    to_ready = {name for name, _, to in transitions if to == "Ready"}
    assert to_ready == set(names)
    gone = {name for name, frm, to in transitions if (frm, to) == ("Ready", "Missing")}
    assert gone == set(names[:5])

    # The follower relayed what both leaders committed, the restart notwithstanding.
    def unrelayed() -> set[tuple[str, str | None, str]]:
        seen = {
            (t["ref"]["name"], t["from_state"], t["to_state"])
            for t in relayed
            if t["ref"]["kind"] == "ConfigMap"
        }
        return set(transitions) - seen

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not unrelayed() or None, "the follower to relay every transition", 60)
    assert not unrelayed(), (sorted(unrelayed()), len(relayed))
    stop.set()
    for proc, _ in replicas.values():
        if proc.pid != first:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    assert _holder(admin_http, namespace) is None  # released on a clean shutdown
