"""Benchmark the API: read latency over a full store, and live-stream fan-out.

1. 200 releases with 2,000 resources in a SQLite store: p50/p99 latency of
   GET /api/releases and GET /api/releases/{ns}/{name} over real HTTP (uvicorn).
2. 50 clients on /api/stream while another process writes 200 transitions/s for 10 s:
   every client must receive every transition; prints the delivery lag.

The server runs in a subprocess over a read-only store; this process is the writer (as
`helmguard serve` reading what a sync writer commits). Target: p99 under 50 ms for reads.

    uv run python bench/api.py [--seconds 10] [--clients 50] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import (
    AppRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    Store,
    open_store,
)

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATES = ["Ready"] * 8 + ["Progressing", "Blocked"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fill(store: Store, releases: int, per_release: int) -> list[ReleaseKey]:
    """`releases` releases of `per_release` objects each (a Deployment, its pods, the rest)."""
    keys = []
    now = datetime.now(UTC)
    for i in range(releases):
        key = ReleaseKey(f"team-{i % 20}", f"app-{i}")
        keys.append(key)
        await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1, "Ready"))
        ns = key.namespace
        refs = [
            ObjectRef("apps", "Deployment", ns, key.name),
            ObjectRef("", "Service", ns, key.name),
            ObjectRef("", "ConfigMap", ns, f"{key.name}-config"),
            ObjectRef("", "ServiceAccount", ns, key.name),
        ]
        refs += [ObjectRef("", "Pod", ns, f"{key.name}-5d4f8-{p}") for p in range(per_release - 4)]
        writes = []
        statuses = []
        for ref in refs:
            state = random.choice(STATES)
            status = ObservedStatus(ref, state, state, f"{ref} is {state}", now, now, "1", 1)
            statuses.append(status)
            writes.append(store.upsert_resource_status(key, status))
        await asyncio.gather(*writes)
        # The app status the sync would store with the release: its worst object's.
        worst = max(statuses, key=lambda s: State(s.state).severity)
        app = AppRecord(worst.state, worst.reason, f"{worst.ref}: {worst.message}", now, now)
        await store.upsert_statuses(apps=[(key, app)])
    await store.flush()
    return keys


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def read_latency(base: str, keys: list[ReleaseKey], n: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
        for name, paths in (
            ("GET /api/releases", ["/api/releases"] * n),
            (
                "GET /api/releases/{ns}/{name}",
                [f"/api/releases/{k.namespace}/{k.name}" for k in random.choices(keys, k=n)],
            ),
        ):
            for path in paths[:10]:  # warm-up
                (await client.get(path)).raise_for_status()
            samples = []
            for path in paths:
                start = time.perf_counter()
                answer = await client.get(path)
                samples.append((time.perf_counter() - start) * 1000)
                answer.raise_for_status()
            print(
                f"{name:34} n={n}  p50 {statistics.median(samples):6.1f} ms  "
                f"p99 {pct(samples, 0.99):6.1f} ms  max {max(samples):6.1f} ms"
            )


_ID = re.compile(rb"id: t(\d+)\n")


async def sse_client(host: str, port: int, got: set[int], ready: asyncio.Event) -> None:
    """A minimal SSE reader (raw socket) that records transition ids; cheap enough for 50."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    tail = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            data = tail + chunk
            if b": connected" in data:
                ready.set()
            cut = data.rfind(b"\n")
            for match in _ID.finditer(data, 0, cut + 1):
                got.add(int(match.group(1)))
            tail = data[cut + 1 :]
    finally:
        writer.close()


async def fan_out(
    store: Store, keys: list[ReleaseKey], port: int, args: argparse.Namespace
) -> None:
    sets: list[set[int]] = [set() for _ in range(args.clients)]
    readies = [asyncio.Event() for _ in range(args.clients)]
    tasks = [
        asyncio.create_task(sse_client("127.0.0.1", port, s, r))
        for s, r in zip(sets, readies, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    total = int(args.rate * args.seconds)
    start = time.perf_counter()
    pending: set[asyncio.Future[bool]] = set()
    for i in range(total):
        key = keys[i % len(keys)]
        ref = ObjectRef("apps", "Deployment", key.namespace, key.name)
        flip = i + 1
        state = "Progressing" if flip % 2 else "Ready"
        now = datetime.now(UTC)
        status = ObservedStatus(ref, state, state, f"flip {flip}", now, now, str(flip), 1)
        future = asyncio.ensure_future(store.upsert_resource_status(key, status))
        pending.add(future)
        future.add_done_callback(pending.discard)
        # Pace the writes at `rate` per second.
        delay = start + (i + 1) / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await store.flush()
    wrote = time.perf_counter() - start
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and min(len(s) for s in sets) < total:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    drained = time.perf_counter() - start - wrote
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    counts = [len(s) for s in sets]
    print(
        f"SSE fan-out: {args.clients} clients, {total} transitions in {wrote:.1f} s "
        f"({total / wrote:.0f}/s); every client received {min(counts)}..{max(counts)} of {total}; "
        f"last delivered {drained * 1000:.0f} ms after the last commit"
    )
    if min(counts) < total:
        raise SystemExit("FAIL: a client missed transitions")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="helmguard-bench-") as tmp:
        db = str(Path(tmp) / "helmguard.db")
        store = await open_store(db)
        started = time.perf_counter()
        keys = await fill(store, args.releases, args.per_release)
        print(
            f"store: {len(keys)} releases, {len(keys) * args.per_release} resources "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        port = _free_port()
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
            [sys.executable, __file__, "--serve", db, "--port", str(port)],
            env={**os.environ, "HELMGUARD_API_TOKEN": TOKEN},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as probe:
                for _ in range(300):
                    try:
                        if (await probe.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            await read_latency(base, keys, args.requests)
            await fan_out(store, keys, port, args)
        finally:
            server.terminate()
            server.wait(10)
            await store.close()


def serve(db: str, port: int) -> None:
    import uvicorn

    from helmguard.api.app import create_app

    async def run() -> None:
        store = await open_store(db, read_only=True)
        app = create_app(store, token=TOKEN, poll_interval=0.1)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
        await uvicorn.Server(config).serve()
        await store.close()

    asyncio.run(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--per-release", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve:
        serve(parsed.serve, parsed.port)
    else:
        asyncio.run(main(parsed))
