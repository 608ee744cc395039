"""Benchmark several `serve --leader-elect` replicas on one PostgreSQL database and 1+ sandboxes.

    uv run python bench/scale.py --sandbox scalea [--sandbox scaleb] [--replicas 2]
                                 [--releases 50] [--objects 10] [--namespaces 5]
                                 [--rate 50] [--load-processes 1] [--load-threads 8]
                                 [--seconds 20] [--db postgresql+asyncpg://…]

Each --sandbox is one cluster: the first is the replicas' default cluster (store key ""),
each other one is registered (`helmguard cluster add NAME`, NAME the sandbox's) and
synced with `serve --cluster NAME`, its Lease in that cluster. In every cluster it
creates RELEASES releases of OBJECTS labelled ConfigMaps each (in NAMESPACES namespaces),
registers them, starts the replicas (each with its API), and prints, per cluster:

- initial sync: from the replicas' start to every object of the cluster stored Ready;
- change -> stream: load generators (LOAD_PROCESSES processes per cluster, LOAD_THREADS
  threads each, one connection per thread) delete and re-create ConfigMaps at RATE
  changes/s per cluster; the rate achieved is printed. Each change is timed from the start
  of its request to its transition's arrival on the /api/stream of the replica leading
  the cluster (which commits it: an upper bound of event -> commit) and of a follower
  (which relays it from the store), p50/p99;
- failover gap: the replica leading the first cluster is SIGKILLed under the same load;
  per cluster, the seconds until the Lease names another holder, and the longest
  silence of the survivor's stream around the kill;
- memory and CPU per replica: peak RSS of each serve process, and its CPU time (user +
  system) during the steady load;
- the load average before and after.

Without --db a throwaway PostgreSQL server is started (tests/pgserver.py, Debian's
postgresql binaries). Targets (issue 15): p99 < 500 ms, failover gap < 20 s, < 500 MB
per replica, at 2 clusters x 500 releases x 10 objects, 500 changes/s per cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as StopEvent
from pathlib import Path
from typing import Any

import httpx

from helmguard.sandbox.cluster import Sandbox, load_sandbox
from helmguard.store import ReleaseKey, Store, open_store
from helmguard.sync import register_release

ROOT = Path(__file__).resolve().parents[1]
LABEL = "app.kubernetes.io/instance"
TOKEN = "bench-scale-token-" + "0" * 32
LEASE, RENEW, RETRY = 15.0, 10.0, 2.0  # client-go's defaults, as deployed
LEASE_NAME = "helmguard-sync"

Obj = tuple[str, str, str]  # namespace, ConfigMap name, release
Change = tuple[str, str, str]  # namespace, name, the state the change leads to
Started = list[tuple[float, Change]]  # (request start, monotonic; change), in order


def cm(name: str, release: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {LABEL: release}}}


@dataclass
class Cluster:
    key: str  # the store's cluster key: "" for the default cluster
    sandbox: Sandbox
    objects: list[Obj] = field(default_factory=list)
    started: Started = field(default_factory=list)
    achieved: float = 0.0  # changes/s the load reached

    @property
    def label(self) -> str:
        return f"{self.key or 'default'} ({self.sandbox.name})"

    def lease_path(self, namespace: str) -> str:
        name = f"{LEASE_NAME}-{self.key}" if self.key else LEASE_NAME
        return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Stream(threading.Thread):
    """Arrival times of (cluster, namespace, name, to_state) on one replica's /api/stream."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/api/stream"
        self.arrivals: list[tuple[float, tuple[str, Change]]] = []
        self.reconnects = 0

    def run(self) -> None:
        # A loaded replica may be slow to answer: connect again until it is killed (what
        # arrives meanwhile is lost to this stream; `reconnects` says how often).
        while True:
            try:
                self._follow()
            except httpx.HTTPError:
                self.reconnects += 1
                time.sleep(0.5)

    def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with (
            httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "transition":
                    t = json.loads(line[6:])
                    ref, cluster = t["ref"], t["release"].get("cluster") or ""
                    change = (ref["namespace"], ref["name"], t["to_state"])
                    self.arrivals.append((time.monotonic(), (cluster, change)))

    def of(self, cluster: str) -> list[tuple[float, Change]]:
        return [(at, change) for at, (c, change) in list(self.arrivals) if c == cluster]


def _load_thread(
    sandbox: str,
    objects: Sequence[Obj],
    rate: float,
    go: StopEvent,
    stop: StopEvent,
    out: Started,
    connected: threading.Barrier,
) -> None:
    """Toggle `objects` in turn (delete, re-create) at `rate`/s on a connection of its own."""
    present = dict.fromkeys(objects, True)
    with load_sandbox(sandbox).admin_http() as api:
        api.get("/version").raise_for_status()  # connected before the clock starts
        connected.wait()
        go.wait()
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            ns, name, release = key = objects[i % len(objects)]
            path = f"/api/v1/namespaces/{ns}/configmaps"
            start = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                if present[key]:
                    out.append((start, (ns, name, "Missing")))
                    api.delete(f"{path}/{name}")
                else:
                    out.append((start, (ns, name, "Ready")))
                    api.post(path, json=cm(name, release))
            present[key] = not present[key]
            i += 1
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))


def _load_process(
    sandbox: str,
    objects: Sequence[Obj],
    rate: float,
    threads: int,
    go: StopEvent,
    stop: StopEvent,
    ready: Any,  # multiprocessing.Queue[bool]: one item once every thread is connected
    results: Any,  # multiprocessing.Queue[Started]
) -> None:
    """THREADS load threads over their share of `objects`; their changes go to `results`."""
    outs: list[Started] = [[] for _ in range(threads)]
    connected = threading.Barrier(threads, action=lambda: ready.put(True))
    workers = [
        threading.Thread(
            target=_load_thread,
            args=(sandbox, objects[j::threads], rate / threads, go, stop, outs[j], connected),
        )
        for j in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(sorted(itertools.chain.from_iterable(outs)))


class Load:
    """Load generator processes for one cluster; `finish()` collects what they changed."""

    def __init__(self, cluster: Cluster, rate: float, processes: int, threads: int) -> None:
        context = multiprocessing.get_context("spawn")  # no threads of this one inherited
        self.cluster = cluster
        self.go, self.stop = context.Event(), context.Event()
        self.ready: Any = context.Queue()
        self.results: Any = context.Queue()
        share = cluster.objects
        self.procs = [
            context.Process(
                target=_load_process,
                args=(
                    cluster.sandbox.name,
                    share[p::processes],
                    rate / processes,
                    threads,
                    self.go,
                    self.stop,
                    self.ready,
                    self.results,
                ),
                daemon=True,
            )
            for p in range(processes)
        ]

    def prepare(self) -> None:
        """Start the processes; return once every thread is connected, waiting for `go`."""
        for proc in self.procs:
            proc.start()
        for _ in self.procs:
            self.ready.get(timeout=120)

    def start(self) -> None:
        self.go.set()

    def finish(self) -> None:
        self.stop.set()
        got = [self.results.get(timeout=60) for _ in self.procs]
        for proc in self.procs:
            proc.join(30)
        started = sorted(itertools.chain.from_iterable(got))
        self.cluster.started = started
        if len(started) > 1:
            self.cluster.achieved = len(started) / (started[-1][0] - started[0][0])


def latencies(
    started: Started, arrivals: list[tuple[float, Change]], since: float, until: float
) -> list[float]:
    """Seconds from each change's request to the first arrival of its transition after it."""
    by_change: dict[Change, list[float]] = {}
    for at, change in arrivals:
        by_change.setdefault(change, []).append(at)
    out: list[float] = []
    for start, change in started:
        times = by_change.get(change, [])
        i = bisect.bisect_left(times, start)
        if since <= start < until and i < len(times):
            out.append(times[i] - start)
    return out


def pct(values: list[float], p: float) -> float:
    return sorted(values)[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    p50, p99 = statistics.median(values) * 1000, pct(values, 0.99) * 1000
    return f"n={len(values)} p50 {p50:.0f} ms, p99 {p99:.0f} ms"


def _create(sandbox: Sandbox, objects: Sequence[Obj], threads: int = 8) -> None:
    """Create the ConfigMaps, THREADS requests at a time."""

    def part(share: Sequence[Obj]) -> None:
        with sandbox.admin_http() as api:
            for ns, name, release in share:
                api.post(f"/api/v1/namespaces/{ns}/configmaps", json=cm(name, release))

    workers = [threading.Thread(target=part, args=(objects[j::threads],)) for j in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", required=True, action="append", help="repeatable")
    parser.add_argument("--db")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50.0, help="changes/s per cluster")
    parser.add_argument("--load-processes", type=int, default=1, help="per cluster")
    parser.add_argument("--load-threads", type=int, default=8, help="per load process")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    if len(set(args.sandbox)) != len(args.sandbox):
        parser.error("each --sandbox once")
    if min(args.replicas, args.releases, args.objects, args.namespaces) < 1 or args.rate <= 0:
        parser.error("--replicas, --releases, --objects, --namespaces and --rate must be > 0")
    if args.replicas < 2:
        parser.error("--replicas must be at least 2 (one is killed)")
    clusters = [
        Cluster("" if i == 0 else name, load_sandbox(name)) for i, name in enumerate(args.sandbox)
    ]
    run_id = uuid.uuid4().hex[:6]
    namespaces = [f"scale-{run_id}-{i}" for i in range(args.namespaces)]
    print(f"load average before: {load_average()}")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(database(args.db))
        apis = [stack.enter_context(c.sandbox.admin_http()) for c in clusters]
        try:
            _setup(args, clusters, apis, namespaces, url)
            _run(args, clusters, apis, namespaces[0], url)
        finally:
            for api in apis:
                for ns in namespaces:
                    api.delete(f"/api/v1/namespaces/{ns}")


def _setup(
    args: argparse.Namespace,
    clusters: list[Cluster],
    apis: list[Any],
    namespaces: list[str],
    url: str,
) -> None:
    for cluster, api in zip(clusters, apis, strict=True):
        for ns in namespaces:
            api.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
        for r in range(args.releases):
            ns, release = namespaces[r % len(namespaces)], f"rel-{r:03d}"
            cluster.objects += [(ns, f"{release}-cm-{o:02d}", release) for o in range(args.objects)]
        _create(cluster.sandbox, cluster.objects)
        if cluster.key:
            argv = [sys.executable, "-m", "helmguard.cli", "cluster", "add", cluster.key]
            argv += ["--kubeconfig", str(cluster.sandbox.kubeconfig), "--db", url]
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

    async def register() -> None:
        async with await open_store(url) as store:
            for cluster in clusters:
                for r in range(args.releases):
                    ns, name = namespaces[r % len(namespaces)], f"rel-{r:03d}"
                    key = ReleaseKey(ns, name, cluster.key)
                    await register_release(store, key, f"{LABEL}={name}")

    asyncio.run(register())


def _run(
    args: argparse.Namespace,
    clusters: list[Cluster],
    apis: list[Any],
    lease_namespace: str,
    url: str,
) -> None:
    logs = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env = {**os.environ, "HELMGUARD_API_TOKEN": TOKEN}
    procs: dict[int, tuple[subprocess.Popen[bytes], int]] = {}
    started = time.monotonic()
    for i in range(args.replicas):
        port = _free_port()
        argv = [sys.executable, "-m", "helmguard.cli", "serve", "--db", url]
        argv += ["--kubeconfig", str(clusters[0].sandbox.kubeconfig), "--port", str(port)]
        argv += ["--leader-elect", "--leader-elect-lease-namespace", lease_namespace]
        for cluster in clusters[1:]:
            argv += ["--cluster", cluster.key]
        log = (logs / f"replica{i}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        procs[proc.pid] = (proc, port)
    try:
        _bench(args, clusters, apis, lease_namespace, url, procs, started)
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        print(f"logs: {logs}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _holder_pid(api: Any, cluster: Cluster, namespace: str) -> int | None:
    got = api.get(cluster.lease_path(namespace))
    holder = got.json().get("spec", {}).get("holderIdentity") if got.status_code == 200 else None
    return int(holder.split("_")[-2]) if holder else None


def _wait_stored_ready(url: str, clusters: list[Cluster], started: float) -> dict[str, float]:
    """Seconds from `started` until every object of each cluster is stored Ready."""

    async def wait() -> dict[str, float]:
        # One store for the whole wait: opening one per look cost the replicas CPU time.
        async with await open_store(url, read_only=True) as store:
            done: dict[str, float] = {}
            while len(done) < len(clusters):
                for cluster in clusters:
                    if cluster.key not in done and await _ready(store, cluster):
                        done[cluster.key] = time.monotonic() - started
                await asyncio.sleep(0.25)
            return done

    async def _ready(store: Store, cluster: Cluster) -> bool:
        rows = await store.cluster_resources(cluster.key)
        ready = sum(r.state == "Ready" for by_release in rows.values() for r in by_release)
        return ready >= len(cluster.objects)

    return asyncio.run(wait())


def _wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def _bench(
    args: argparse.Namespace,
    clusters: list[Cluster],
    apis: list[Any],
    lease_ns: str,
    url: str,
    procs: dict[int, tuple[subprocess.Popen[bytes], int]],
    started: float,
) -> None:
    initial = _wait_stored_ready(url, clusters, started)
    per = f"{args.releases} releases x {args.objects} ConfigMaps = {len(clusters[0].objects)}"
    print(f"size: {len(clusters)} cluster(s) x {per}, {args.replicas} replicas")
    leaders = {c.key: _holder_pid(api, c, lease_ns) for c, api in zip(clusters, apis, strict=True)}
    streams = {pid: Stream(port) for pid, (_, port) in procs.items()}
    for stream in streams.values():
        stream.start()
    time.sleep(1.0)
    threads = args.load_threads
    loads = [Load(c, args.rate, args.load_processes, threads) for c in clusters]
    for load in loads:
        load.prepare()
    for load in loads:
        load.start()
    t0 = time.monotonic()
    cpu0 = {pid: cpu_seconds(pid) for pid in procs}
    time.sleep(args.seconds)
    t1 = time.monotonic()
    peak = {pid: rss_mb(pid) for pid in procs}
    cpu = {pid: cpu_seconds(pid) - cpu0[pid] for pid in procs}
    victim = leaders[clusters[0].key]
    assert victim is not None, "no replica leads the first cluster"
    survivor = streams[next(pid for pid in procs if pid != victim)]
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    taken: dict[str, float] = {}
    new: dict[str, int | None] = {}
    moving = [c for c in clusters if leaders[c.key] == victim]

    def all_taken() -> bool:
        for c, api in zip(clusters, apis, strict=True):
            if c in moving and c.key not in taken:
                pid = _holder_pid(api, c, lease_ns)
                if pid not in (None, victim):
                    taken[c.key], new[c.key] = time.monotonic() - killed, pid
        return len(taken) == len(moving)

    _wait_until(all_taken, 120)
    # The new leader lists, then commits what changed meanwhile: wait for its first.
    _wait_until(
        lambda: all(any(at > killed + taken.get(c.key, 0) for at, _ in survivor.of(c.key))
                    for c in moving),
        120,
    )  # fmt: skip
    time.sleep(3.0)
    for load in loads:
        load.finish()
    print(f"load average after: {load_average()}")
    for cluster in clusters:
        leader = leaders[cluster.key]
        print(f"cluster {cluster.label}:")
        seconds = initial[cluster.key]
        print(f"  initial sync (replicas started -> all stored Ready): {seconds:.1f} s")
        print(f"  load: {args.rate:g}/s asked, {cluster.achieved:.0f}/s achieved "
              f"({args.load_processes} process(es) x {threads} threads)")  # fmt: skip
        steady = [(s, c) for s, c in cluster.started if t0 + 1.0 <= s < t1 - 1.0]
        for role, pid in (
            ("the leader's stream (commit)", leader),
            ("a follower's stream (relayed)", next(p for p in procs if p != leader)),
        ):
            values = latencies(steady, streams[pid].of(cluster.key), t0 + 1.0, t1 - 1.0)
            again = streams[pid].reconnects
            print(f"  change -> {role}: {summary(values)}, stream reconnected {again}x")
        # Under steady load transitions arrive every 1/RATE s: the longest silence around
        # the kill is the failover (the dead leader's last commits may arrive just after).
        around = sorted(at for at, _ in survivor.of(cluster.key) if at >= killed - 2.0)
        gap = max((b - a for a, b in itertools.pairwise(around)), default=float("nan"))
        if cluster in moving:
            print(
                f"  failover (lease {LEASE:g}s, renew {RENEW:g}s, retry {RETRY:g}s): Lease "
                f"taken over {taken.get(cluster.key, float('nan')):.1f} s after SIGKILL (pid "
                f"{victim} -> {new.get(cluster.key)}); {gap:.1f} s without a relayed transition"
            )
        else:
            print(f"  not led by the killed replica: longest silence around the kill {gap:.1f} s")
    for pid in procs:
        mb = max(peak[pid], rss_mb(pid))
        led = ", ".join(c.label for c in clusters if leaders[c.key] == pid) or "nothing"
        role = "killed" if pid == victim else "survivor"
        print(
            f"replica pid {pid} ({role}; led {led}): peak RSS {mb:.0f} MB; CPU "
            f"{cpu[pid]:.1f} s (user+sys) in the {t1 - t0:.0f} s of steady load"
        )


if __name__ == "__main__":
    main()
