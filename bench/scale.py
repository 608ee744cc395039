"""Benchmark several `serve --leader-elect` replicas on one PostgreSQL database and one sandbox.

    uv run python bench/scale.py --sandbox scalea [--replicas 2] [--releases 50] [--objects 10]
                                 [--rate 50] [--seconds 20] [--db postgresql+asyncpg://…]

Creates RELEASES releases of OBJECTS labelled ConfigMaps each (in a few namespaces),
registers them, starts the replicas (each with its API), and prints:

- initial sync: from the replicas' start to every object stored Ready;
- change -> relayed: a load thread deletes and re-creates ConfigMaps at RATE changes/s;
  each change is timed from the start of its request to its transition's arrival on a
  *follower's* /api/stream (the leader commits, the follower polls the store by id): an
  upper bound of event -> commit, p50/p99;
- failover gap: the leader is SIGKILLed under the same load; the seconds without a
  relayed transition, and the seconds until the Lease names another holder;
- memory per replica: peak RSS of each serve process.

Without --db a throwaway PostgreSQL server is started (tests/pgserver.py, Debian's
postgresql binaries). Targets (issue 15): p99 < 500 ms, failover gap < 20 s, < 500 MB
per replica (at 2 clusters x 500 releases x 10 objects, 500 changes/s: beyond this
machine; see README for the size measured).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from helmguard.sandbox.cluster import load_sandbox
from helmguard.store import ReleaseKey, open_store
from helmguard.sync import register_release

ROOT = Path(__file__).resolve().parents[1]
LABEL = "app.kubernetes.io/instance"
TOKEN = "bench-scale-token-" + "0" * 32
LEASE, RENEW, RETRY = 15.0, 10.0, 2.0  # client-go's defaults, as deployed


def cm(name: str, release: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {LABEL: release}}}


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import fresh_database, postgres_server

    with postgres_server() as admin:
        manager = fresh_database(admin, "bench")
        loop = asyncio.new_event_loop()
        try:
            yield loop.run_until_complete(manager.__aenter__())
        finally:
            loop.run_until_complete(manager.__aexit__(None, None, None))
            loop.close()


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # peak resident set
                return int(line.split()[1]) / 1024
    return 0.0


class Stream(threading.Thread):
    """Arrival times of (namespace, name, to_state) on one replica's /api/stream."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/api/stream"
        self.arrivals: list[tuple[float, tuple[str, str, str]]] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "transition":
                    t = json.loads(line[6:])
                    ref = t["ref"]
                    self.arrivals.append(
                        (time.monotonic(), (ref["namespace"], ref["name"], t["to_state"]))
                    )


class Load(threading.Thread):
    """Delete or re-create one ConfigMap per tick at `rate`/s; note each change's start."""

    def __init__(self, api: httpx.Client, objects: list[tuple[str, str, str]], rate: float):
        super().__init__(daemon=True)
        self.api, self.objects, self.rate = api, objects, rate
        self.started: dict[tuple[str, str, str], float] = {}
        self.stop = threading.Event()
        self.present = dict.fromkeys(objects, True)

    def run(self) -> None:
        i, t0 = 0, time.monotonic()
        while not self.stop.is_set():
            ns, name, release = self.objects[i % len(self.objects)]
            key = (ns, name, release)
            path = f"/api/v1/namespaces/{ns}/configmaps"
            start = time.monotonic()
            if self.present[key]:
                self.started[(ns, name, "Missing")] = start
                self.api.delete(f"{path}/{name}")
            else:
                self.started[(ns, name, "Ready")] = start
                self.api.post(path, json=cm(name, release))
            self.present[key] = not self.present[key]
            i += 1
            time.sleep(max(0.0, t0 + i / self.rate - time.monotonic()))


def latencies(load: Load, stream: Stream, since: float, until: float) -> list[float]:
    """Seconds from each change's request to the first arrival of its transition after it."""
    arrivals: dict[tuple[str, str, str], list[float]] = {}
    for at, key in stream.arrivals:
        arrivals.setdefault(key, []).append(at)
    out: list[float] = []
    for key, start in load.started.items():
        times = arrivals.get(key, [])
        i = bisect.bisect_left(times, start)
        if since <= start < until and i < len(times):
            out.append(times[i] - start)
    return out


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--db")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    sandbox = load_sandbox(args.sandbox)
    run_id = uuid.uuid4().hex[:6]
    namespaces = [f"scale-{run_id}-{i}" for i in range(args.namespaces)]
    with sandbox.admin_http() as api, database(args.db) as url:
        for ns in namespaces:
            api.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
        objects: list[tuple[str, str, str]] = []
        for r in range(args.releases):
            ns, release = namespaces[r % len(namespaces)], f"rel-{r:03d}"
            for o in range(args.objects):
                name = f"{release}-cm-{o:02d}"
                api.post(f"/api/v1/namespaces/{ns}/configmaps", json=cm(name, release))
                objects.append((ns, name, release))

        async def register() -> None:
            async with await open_store(url) as store:
                for r in range(args.releases):
                    ns = namespaces[r % len(namespaces)]
                    await register_release(
                        store, ReleaseKey(ns, f"rel-{r:03d}"), f"{LABEL}=rel-{r:03d}"
                    )

        asyncio.run(register())
        logs = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        env = {**os.environ, "HELMGUARD_API_TOKEN": TOKEN}
        procs: list[tuple[subprocess.Popen[bytes], int]] = []
        started = time.monotonic()
        for i in range(args.replicas):
            port = _free_port()
            argv = [sys.executable, "-m", "helmguard.cli", "serve", "--db", url]
            argv += ["--kubeconfig", str(sandbox.kubeconfig), "--port", str(port)]
            argv += ["--leader-elect", "--leader-elect-lease-namespace", namespaces[0]]
            log = (logs / f"replica{i}.log").open("wb")
            procs.append(
                (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env), port)
            )
        try:
            _bench(args, api, url, objects, procs, started, namespaces[0])
        finally:
            for proc, _ in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(30)
            for ns in namespaces:
                api.delete(f"/api/v1/namespaces/{ns}")
            print(f"logs: {logs}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _holder_pid(api: httpx.Client, namespace: str) -> int | None:
    got = api.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/helmguard-sync")
    holder = got.json().get("spec", {}).get("holderIdentity") if got.status_code == 200 else None
    return int(holder.split("_")[-2]) if holder else None


def _bench(
    args: argparse.Namespace,
    api: httpx.Client,
    url: str,
    objects: list[tuple[str, str, str]],
    procs: list[tuple[subprocess.Popen[bytes], int]],
    started: float,
    lease_namespace: str,
) -> None:
    total = len(objects)

    async def all_stored_ready() -> None:
        # One store for the whole wait: opening one per look cost the replicas CPU time.
        async with await open_store(url, read_only=True) as store:
            keys = [release.key for release in await store.list_releases()]
            while True:
                n = 0
                for key in keys:
                    n += sum(r.state == "Ready" for r in await store.list_resources(key))
                if n >= total:
                    return
                await asyncio.sleep(0.25)

    asyncio.run(all_stored_ready())
    initial = time.monotonic() - started
    print(f"size: 1 cluster, {args.releases} releases x {args.objects} ConfigMaps = {total}")
    print(f"initial sync ({args.replicas} replicas started -> all stored Ready): {initial:.1f} s")
    leader = _holder_pid(api, lease_namespace)
    by_pid = {p.pid: (p, port) for p, port in procs}
    followers = [port for pid, (_, port) in by_pid.items() if pid != leader]
    stream = Stream(followers[0])
    stream.start()
    time.sleep(1.0)
    load = Load(api, objects, args.rate)
    t0 = time.monotonic()
    load.start()
    time.sleep(args.seconds)
    steady = latencies(load, stream, t0 + 1.0, time.monotonic() - 1.0)
    print(
        f"change -> relayed by a follower at {args.rate:g}/s: n={len(steady)} "
        f"p50 {statistics.median(steady) * 1000:.0f} ms, p99 {pct(steady, 0.99) * 1000:.0f} ms"
    )
    assert leader is not None
    peak = {proc.pid: rss_mb(proc.pid) for proc, _ in procs}
    killed = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    while (pid := _holder_pid(api, lease_namespace)) in (None, leader):
        time.sleep(0.1)
    taken = time.monotonic()
    took_over = taken - killed
    deadline = taken + 120
    # The new leader lists, then commits what changed meanwhile: wait for its first.
    while not [at for at, _ in stream.arrivals if at >= taken] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3.0)
    load.stop.set()
    load.join()
    # Under steady load transitions arrive every 1/RATE s: the longest silence around the
    # kill is the failover (the dead leader's last commits may still arrive just after it).
    around = sorted(at for at, _ in stream.arrivals if at >= killed - 2.0)
    gap = max((b - a for a, b in itertools.pairwise(around)), default=float("nan"))
    print(
        f"failover (lease {LEASE:g}s, renew {RENEW:g}s, retry {RETRY:g}s): Lease taken over "
        f"{took_over:.1f} s after SIGKILL (pid {leader} -> {pid}); {gap:.1f} s without a "
        "relayed transition"
    )
    for proc, _ in procs:
        mb = max(peak[proc.pid], rss_mb(proc.pid))
        role = (
            "leader, killed"
            if proc.pid == leader
            else "follower"
            if proc.pid != pid
            else "new leader"
        )
        print(f"replica pid {proc.pid} ({role}): peak RSS {mb:.0f} MB")


if __name__ == "__main__":
    main()
