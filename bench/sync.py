"""Benchmark the watch-based sync on a sandbox: initial sync, steady-state latency, memory, DB.

    uv run python bench/sync.py --sandbox sync --releases 200 --objects 10 --pods 1000

Creates N releases of M objects (a Deployment whose pods need a ConfigMap, its
ServiceAccount, and M-2 labelled ConfigMaps) across a few namespaces, waits for the pods to
be Ready, registers the releases, and runs the sync in-process on SQLite. Steady state:
another process (so the load does not share this one's CPU time) deletes and re-creates
the releases' ConfigMaps at --rate changes/s with at most --concurrency requests in
flight; each change is a real transition of a member. Latency runs from the start of the
request that made the change (the watch event can be committed before the writer reads
the API server's answer, so this is an upper bound that includes the API server's own
write) to the commit of the transition. Last, the seed scenario: a Deployment with a
missing ServiceAccount; detection latency runs from the ReplicaSet's ReplicaFailure
lastTransitionTime (second precision, so +-1 s) to the committed Blocked.

Targets (issue 6): p99 event-to-commit under 500 ms at 500 events/s; seed detection under
1 s; memory under 300 MB for 5,000 watched objects.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import http.client
import json
import os
import queue
import resource
import ssl
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helmguard.kube.client import Kube
from helmguard.kube.config import load_config
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import load_sandbox
from helmguard.status.fields import parse_time
from helmguard.store import ObservedStatus, ReleaseKey, open_store
from helmguard.sync import Sync, register_release

LABEL = "app.kubernetes.io/instance"


def deployment(release: str, replicas: int) -> dict[str, Any]:
    labels = {LABEL: release, "app": release}
    return {
        "metadata": {"name": release, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": release}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": release,
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/app:1",
                            "envFrom": [{"configMapRef": {"name": f"{release}-cfg-0"}}],
                        }
                    ],
                },
            },
        },
    }


async def post(kube: Kube, path: str, body: dict[str, Any]) -> None:
    await kube.send_json("POST", path, body)


async def bounded(coros: list[Any], limit: int = 16) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> None:
        async with gate:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_pods_ready(kube: Kube, spaces: list[str], expected: int, within: float) -> int:
    """Wait until `expected` pods in `spaces` are Ready (kwok); return how many are."""
    deadline = time.monotonic() + within
    ready = 0
    while True:
        ready = 0
        for ns in spaces:
            pods = await kube.get_json(f"/api/v1/namespaces/{ns}/pods")
            for pod in pods["items"]:
                conditions = pod.get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    ready += 1
        if ready >= expected or time.monotonic() > deadline:
            return ready
        await asyncio.sleep(1.0)


def configmaps(objects: int) -> int:
    """How many ConfigMaps a release of `objects` objects has (besides its Deployment and SA)."""
    return max(1, objects - 2)


def toggled(objects: int) -> range:
    """The ConfigMaps (by index) the load generator deletes and re-creates.

    Those the pods do not read (index 0 is in the Deployment's envFrom); a release of three
    objects has no other, so it toggles the one its pods read (running pods keep their
    environment).
    """
    count = configmaps(objects)
    return range(1, count) if count > 1 else range(1)


Sent = tuple[str, str, str, str, float]  # namespace, release, ConfigMap, expected state, when


async def drive(args: argparse.Namespace, releases: list[tuple[str, str]]) -> list[Sent]:
    """Run the load generator in its own process; return what it changed and when.

    Times are CLOCK_MONOTONIC, which is one clock for every process of the machine.
    """
    plan = {
        "sandbox": args.sandbox,
        "rate": args.rate,
        "changes": args.changes,
        "concurrency": args.concurrency,
        "configmaps": [
            [ns, name, f"{name}-cfg-{j}"] for j in toggled(args.objects) for ns, name in releases
        ],
    }
    with tempfile.TemporaryDirectory(prefix="hg-drive-") as tmp:
        plan_file, out_file = Path(tmp) / "plan.json", Path(tmp) / "sent.json"
        plan_file.write_text(json.dumps(plan))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--drive", str(plan_file), str(out_file)
        )
        if await proc.wait() != 0:
            raise SystemExit("the load generator failed")
        return [tuple(row) for row in json.loads(out_file.read_text())]


def drive_main(plan: dict[str, Any]) -> list[Sent]:
    """The load generator: toggle ConfigMaps (delete, re-create) at `rate` changes/s.

    Plain keep-alive HTTPS connections on threads: the generator should spend the machine's
    CPU on the API server and the sync, not on an HTTP client stack.
    """
    sb = load_sandbox(plan["sandbox"])
    pki = sb.directory / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    server = urlsplit(sb.server)
    configmaps = plan["configmaps"]
    present = [True] * len(configmaps)
    locks = [threading.Lock() for _ in configmaps]
    work: queue.Queue[int | None] = queue.Queue()
    sent: list[Sent] = []
    round_trips: list[float] = []
    failures: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPSConnection(
            server.hostname or "", server.port, context=context, timeout=30
        )
        while (i := work.get()) is not None:
            ns, name, cm = configmaps[i]
            with locks[i]:
                if present[i]:
                    method, path, body = "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{cm}", None
                    state = "Missing"
                else:
                    method, path = "POST", f"/api/v1/namespaces/{ns}/configmaps"
                    cm_body = {
                        "metadata": {"name": cm, "labels": {LABEL: name}},
                        "data": {"k": "v"},
                    }
                    body, state = json.dumps(cm_body).encode(), "Ready"
                # From the request that makes the change: the watch event can reach the sync
                # (and be committed) before this client has read the API server's answer.
                began = time.monotonic()
                connection.request(
                    method, path, body=body, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                answer = response.read()
                if response.status >= 300:
                    failures.append(f"{method} {path}: {response.status} {answer[:200]!r}")
                    continue
                present[i] = not present[i]
                sent.append((ns, name, cm, state, began))
                round_trips.append(time.monotonic() - began)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(plan["concurrency"])]
    for thread in threads:
        thread.start()
    start = time.monotonic()
    for k in range(plan["changes"]):
        delay = start + k / plan["rate"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        work.put(k % len(configmaps))
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    if failures:
        print(
            f"load generator: {len(failures)} changes failed, e.g. {failures[0]}", file=sys.stderr
        )
    print(
        f"load generator: API request round trip p50 {pct(round_trips, 0.5) * 1000:.0f} ms, "
        f"p99 {pct(round_trips, 0.99) * 1000:.0f} ms"
    )
    return sorted(sent, key=lambda s: s[4])


async def main(args: argparse.Namespace) -> None:
    sb = load_sandbox(args.sandbox)
    db = Path(args.db or tempfile.mkdtemp(prefix="hg-bench-")) / "bench.db"
    spaces = [f"bench-{args.tag}-{i}" for i in range(args.namespaces)]
    releases = [(spaces[i % len(spaces)], f"r{i:03d}") for i in range(args.releases)]
    replicas = max(0, args.pods // max(1, args.releases))
    async with Kube(load_config(sb.kubeconfig, sb.admin_context), timeout=30) as kube:
        t = time.monotonic()
        await bounded(
            [post(kube, "/api/v1/namespaces", {"metadata": {"name": ns}}) for ns in spaces]
        )
        work = []
        for ns, name in releases:
            labels = {"metadata": {"labels": {LABEL: name}}}
            work.append(
                post(
                    kube,
                    f"/api/v1/namespaces/{ns}/serviceaccounts",
                    {"metadata": {"name": name, **labels["metadata"]}},
                )
            )
            for j in range(configmaps(args.objects)):
                work.append(
                    post(
                        kube,
                        f"/api/v1/namespaces/{ns}/configmaps",
                        {
                            "metadata": {"name": f"{name}-cfg-{j}", **labels["metadata"]},
                            "data": {"k": "v"},
                        },
                    )
                )
            work.append(
                post(kube, f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(name, replicas))
            )
        await bounded(work)
        print(f"created {len(work)} objects in {time.monotonic() - t:.1f}s; waiting for pods")
        ready = await wait_pods_ready(kube, spaces, replicas * len(releases), args.settle)
        print(f"{ready} pods Ready after {time.monotonic() - t:.1f}s")

        store = await open_store(str(db))
        for ns, name in releases:
            await register_release(store, ReleaseKey(ns, name), f"{LABEL}={name}")
        progress = asyncio.Event()
        # First commit that carries the cluster's own words for the seed failure.
        cluster_words: dict[ObjectRef, tuple[float, datetime]] = {}
        commits: dict[tuple[ReleaseKey, ObjectRef, str], list[float]] = {}

        def on_commit(key: ReleaseKey, row: ObservedStatus, changed: bool, _lat: float) -> None:
            progress.set()
            if changed and row.state == "Blocked" and "error looking up" in row.message:
                cluster_words.setdefault(row.ref, (time.monotonic(), datetime.now(UTC)))
            if changed:
                commits.setdefault((key, row.ref, row.state), []).append(time.monotonic())

        sync = Sync(
            kube,
            store,
            on_commit=on_commit,
            cluster_wide_above=args.namespaces - 1 if args.cluster_wide else 1000,
        )
        t = time.monotonic()
        await sync.start(timeout=600)
        await sync.wait_idle(timeout=600)
        initial = time.monotonic() - t
        watched = sum(len(i.cache) for i in sync.informers.values())
        print(
            f"initial sync: {initial:.2f}s for {len(releases)} releases, "
            f"{watched} watched objects, {len(sync.informers)} informers"
        )

        # Steady state: another process deletes and re-creates ConfigMaps at a target rate,
        # so the load generator's own work does not share this process with the sync.
        notes0, t0, cpu0 = sync.stats.notifications, time.monotonic(), time.process_time()
        inside0 = len(sync.stats.latencies)
        sent = await drive(args, releases)
        if not sent:
            raise SystemExit("the load generator made no change (see its errors above)")

        def commit_of(change: Sent) -> float | None:
            ns, name, cm, state, at = change
            key, ref = ReleaseKey(ns, name), ObjectRef("", "ConfigMap", ns, cm)
            times = commits.get((key, ref, state), [])
            i = bisect.bisect_left(times, at)
            return times[i] if i < len(times) else None

        # Changes made last may still be on their way from the API server: wait for them.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(commit_of(c) is None for c in sent):
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), deadline - time.monotonic())
        await sync.wait_idle(timeout=120)
        duration = time.monotonic() - t0
        latencies = []
        missing: dict[str, int] = {}
        for change in sent:
            committed = commit_of(change)
            if committed is None:
                missing[change[3]] = missing.get(change[3], 0) + 1
            else:
                latencies.append(committed - change[4])
        processed = sync.stats.notifications - notes0
        cpu = time.process_time() - cpu0
        print(
            f"steady state: {len(sent)} changes sent in {sent[-1][4] - sent[0][4]:.1f}s "
            f"= {len(sent) / max(1e-9, sent[-1][4] - sent[0][4]):.0f}/s; "
            f"{processed} notifications processed in {duration:.1f}s "
            f"= {processed / duration:.0f}/s; {len(latencies)}/{len(sent)} changes committed; "
            f"write->commit p50 {pct(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {pct(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies, default=0) * 1000:.0f} ms"
        )
        if missing:
            print(f"  changes never committed as a transition (by state): {missing}")

        inside = sync.stats.latencies[inside0:]
        print(
            f"  inside the sync (watch notification read -> commit): p50 "
            f"{pct(inside, 0.5) * 1000:.0f} ms, p99 {pct(inside, 0.99) * 1000:.0f} ms"
        )
        print(
            f"  sync CPU {cpu:.1f}s = {cpu / max(1, processed) * 1000:.2f} ms per notification "
            f"({cpu / duration * 100:.0f}% of one core)"
        )

        # The seed scenario.
        ns, name = spaces[0], "seed"
        await register_release(store, ReleaseKey(ns, name), f"{LABEL}={name}")
        await sync.add_release(await _load(store, ReleaseKey(ns, name)))
        dep = deployment(name, 1)
        dep["spec"]["template"]["spec"]["serviceAccountName"] = "missing-sa"
        created = time.monotonic()
        await post(kube, f"/apis/apps/v1/namespaces/{ns}/deployments", dep)
        seed = ObjectRef("apps", "Deployment", ns, name)
        deadline = time.monotonic() + 60
        visible: tuple[float, datetime] | None = None  # when the bench read it; its timestamp
        while time.monotonic() < deadline and visible is None:
            rs = await kube.get_json(
                f"/apis/apps/v1/namespaces/{ns}/replicasets", {"labelSelector": f"app={name}"}
            )
            for item in rs["items"]:
                for c in item.get("status", {}).get("conditions", []):
                    if c["type"] == "ReplicaFailure" and (
                        at := parse_time(c["lastTransitionTime"])
                    ):
                        visible = (time.monotonic(), at)
            await asyncio.sleep(0.02)
        # The commit may follow the bench's read: wait for it within the same 60 s.
        while seed not in cluster_words and time.monotonic() < deadline:
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), deadline - time.monotonic())
        await sync.wait_idle(timeout=60)
        blocked = [
            t
            for (_, ref, state), times in commits.items()
            for t in times
            if ref == seed and state == "Blocked"
        ]
        words = cluster_words.get(seed)
        if visible is None or not blocked or words is None:
            print(
                "seed scenario: not detected within 60s ("
                + "; ".join(
                    what
                    for what, lacking in (
                        ("the ReplicaSet's ReplicaFailure was never readable", visible is None),
                        ("no Blocked committed", not blocked),
                        ("the cluster's words never committed", words is None),
                    )
                    if lacking
                )
                + ")"
            )
        else:
            print(
                f"seed scenario: Blocked (missing ServiceAccount) committed "
                f"{min(blocked) - created:.2f}s after the Deployment was created; the "
                f"ReplicaSet's FailedCreate message committed {words[0] - visible[0]:+.2f}s "
                f"after the bench could read the condition, "
                f"{(words[1] - visible[1]).total_seconds():.2f}s after its lastTransitionTime "
                "(second precision)"
            )
        await sync.stop()
        await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in db.parent.glob("bench.db*"))
    print(f"memory: max RSS {rss:.0f} MB; DB size {size / 1e6:.1f} MB ({db})")
    if not args.keep:
        async with Kube(load_config(sb.kubeconfig, sb.admin_context), timeout=30) as kube:
            await bounded([kube.send_json("DELETE", f"/api/v1/namespaces/{ns}") for ns in spaces])
            # The next run must not share the cluster with this one's 1,000 pod deletions.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                names = {
                    n["metadata"]["name"]
                    for n in (await kube.get_json("/api/v1/namespaces"))["items"]
                }
                if not names & set(spaces):
                    break
                await asyncio.sleep(1.0)


async def _load(store: Any, key: ReleaseKey) -> Any:
    from helmguard.sync import load_release

    record = await store.get_release(key)
    return await load_release(store, record)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        sent = drive_main(json.loads(Path(sys.argv[2]).read_text()))
        Path(sys.argv[3]).write_text(json.dumps(sent))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default=os.environ.get("HELMGUARD_TEST_SANDBOX", "default"))
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument(
        "--changes", type=int, default=5000, help="ConfigMap changes (a delete or a re-create)"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="changes started per second")
    parser.add_argument("--concurrency", type=int, default=16, help="changes in flight at most")
    parser.add_argument(
        "--settle", type=float, default=180.0, help="seconds to wait at most for pods to be Ready"
    )
    parser.add_argument(
        "--cluster-wide", action="store_true", help="one informer per kind for all namespaces"
    )
    parser.add_argument("--db", help="directory for the SQLite file (default: a temp dir)")
    parser.add_argument("--tag", default=str(int(time.time()) % 100000))
    parser.add_argument("--keep", action="store_true", help="keep the bench namespaces")
    asyncio.run(main(parser.parse_args()))
