"""Benchmark the watch-based sync on a sandbox: initial sync, steady-state latency, memory, DB.

    uv run python bench/sync.py --sandbox sync --releases 200 --objects 10 --pods 1000

Creates N releases of M objects (a Deployment whose pods need a ConfigMap, its
ServiceAccount, and M-2 labelled ConfigMaps) across a few namespaces, registers them, and
runs the sync in-process on SQLite. Steady state: ConfigMaps are deleted and re-created
(each is a dependency of a Deployment and a member itself, so each change is a real
transition); latency runs from the API server's answer to the write (the moment the new
resourceVersion exists) to the commit of the transition. Last, the seed scenario: a
Deployment with a missing ServiceAccount; detection latency runs from the ReplicaSet's
ReplicaFailure lastTransitionTime (second precision, so +-1 s) to the committed Blocked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helmguard.kube.client import Kube, load_config
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
            for j in range(max(1, args.objects - 2)):
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
        await asyncio.sleep(args.settle)

        store = await open_store(str(db))
        for ns, name in releases:
            await register_release(store, ReleaseKey(ns, name), f"{LABEL}={name}")
        commits: dict[tuple[ReleaseKey, ObjectRef, str], list[float]] = {}

        def on_commit(key: ReleaseKey, row: ObservedStatus, changed: bool, _lat: float) -> None:
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

        # Steady state: delete and re-create ConfigMaps at a target rate.
        notes0, t0 = sync.stats.notifications, time.monotonic()
        sent: list[tuple[ReleaseKey, ObjectRef, str, float]] = []
        picks = random.Random(1).sample(releases, min(len(releases), args.changes // 2 or 1))

        async def toggle(ns: str, name: str) -> None:
            ref = ObjectRef("", "ConfigMap", ns, f"{name}-cfg-1")
            await kube.send_json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/{ref.name}")
            sent.append((ReleaseKey(ns, name), ref, "Missing", time.monotonic()))
            await asyncio.sleep(0.2)
            await post(
                kube,
                f"/api/v1/namespaces/{ns}/configmaps",
                {"metadata": {"name": ref.name, "labels": {LABEL: name}}, "data": {"k": "v"}},
            )
            sent.append((ReleaseKey(ns, name), ref, "Ready", time.monotonic()))

        gap = 1.0 / args.rate
        tasks = []
        for ns, name in picks:
            tasks.append(asyncio.create_task(toggle(ns, name)))
            await asyncio.sleep(gap)
        await asyncio.gather(*tasks)
        await sync.wait_idle(timeout=120)
        await asyncio.sleep(1.0)
        duration = time.monotonic() - t0
        latencies = []
        for key, ref, state, at in sent:
            after = [c for c in commits.get((key, ref, state), ()) if c >= at]
            if after:
                latencies.append(min(after) - at)
        processed = sync.stats.notifications - notes0
        print(
            f"steady state: {processed} notifications in {duration:.1f}s "
            f"= {processed / duration:.0f}/s; "
            f"{len(latencies)}/{len(sent)} changes committed; write->commit p50 "
            f"{pct(latencies, 0.5) * 1000:.0f} ms, p99 {pct(latencies, 0.99) * 1000:.0f} ms"
        )

        # The seed scenario.
        ns, name = spaces[0], "seed"
        await register_release(store, ReleaseKey(ns, name), f"{LABEL}={name}")
        await sync.add_release(await _load(store, ReleaseKey(ns, name)))
        dep = deployment(name, 1)
        dep["spec"]["template"]["spec"]["serviceAccountName"] = "missing-sa"
        await post(kube, f"/apis/apps/v1/namespaces/{ns}/deployments", dep)
        ref = ObjectRef("apps", "Deployment", ns, name)
        blocked_at: datetime | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and blocked_at is None:
            for r in await store.list_resources(ReleaseKey(ns, name)):
                if r.ref == ref and r.state == "Blocked" and "error looking up" in r.message:
                    blocked_at = datetime.now(UTC)
            await asyncio.sleep(0.02)
        rs = await kube.get_json(
            f"/apis/apps/v1/namespaces/{ns}/replicasets", {"labelSelector": f"app={name}"}
        )
        cond_time = None
        for item in rs["items"]:
            for c in item.get("status", {}).get("conditions", []):
                if c["type"] == "ReplicaFailure":
                    cond_time = parse_time(c["lastTransitionTime"])
        if blocked_at and cond_time:
            print(
                f"seed scenario: Blocked stored {(blocked_at - cond_time).total_seconds():.2f}s "
                "after the ReplicaFailure lastTransitionTime (second precision)"
            )
        else:
            print("seed scenario: not detected within 60s")
        await sync.stop()
        await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in db.parent.glob("bench.db*"))
    print(f"memory: max RSS {rss:.0f} MB; DB size {size / 1e6:.1f} MB ({db})")
    if not args.keep:
        async with Kube(load_config(sb.kubeconfig, sb.admin_context)) as kube:
            await bounded([kube.send_json("DELETE", f"/api/v1/namespaces/{ns}") for ns in spaces])


async def _load(store: Any, key: ReleaseKey) -> Any:
    from helmguard.sync import load_release

    record = await store.get_release(key)
    return await load_release(store, record)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default=os.environ.get("HELMGUARD_TEST_SANDBOX", "default"))
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument(
        "--changes", type=int, default=400, help="ConfigMap changes (delete+create pairs count 2)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="change pairs started per second")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to let pods start")
    parser.add_argument(
        "--cluster-wide", action="store_true", help="one informer per kind for all namespaces"
    )
    parser.add_argument("--db", help="directory for the SQLite file (default: a temp dir)")
    parser.add_argument("--tag", default=str(int(time.time()) % 100000))
    parser.add_argument("--keep", action="store_true", help="keep the bench namespaces")
    asyncio.run(main(parser.parse_args()))
