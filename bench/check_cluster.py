"""Benchmark the cluster check: a generated 1,000-object chart against a sandbox API server.

Prints wall time (render, lookups, RBAC, dry run of every object), the API requests per
phase and the ratio of requests to objects, for 100 and 1,000 objects: lookups and RBAC
requests grow with kinds x namespaces, only the dry run (one per object) with objects.
Target: under 3 s wall for 1,000 objects, dry run included.

    uv run helmguard sandbox up --name bench
    uv run python bench/check_cluster.py --sandbox bench [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from helmguard.chart.render import RenderRequest
from helmguard.kube.client import connect
from helmguard.preflight.check import check_cluster
from helmguard.preflight.report import Report
from helmguard.sandbox.cluster import load_sandbox

sys.path.insert(0, str(Path(__file__).parent))
from check_offline import write_chart

NAMESPACE = "bench-check"


async def one(kubeconfig: Path, context: str, chart: Path) -> tuple[float, Report]:
    request = RenderRequest(chart=str(chart), release="bench", namespace=NAMESPACE)
    t0 = time.perf_counter()
    async with await connect(kubeconfig, context) as kube:
        report = await check_cluster(request, kube=kube)
    return time.perf_counter() - t0, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="default", help="name of a running sandbox")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sandbox = load_sandbox(args.sandbox)
    with sandbox.admin_http() as api:
        answer = api.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}})
        if answer.status_code not in (201, 409):
            sys.exit(f"cannot create namespace {NAMESPACE}: {answer.text}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for apps in (10, 100):
                chart = write_chart(Path(tmp), apps)
                walls = []
                report = None
                for _ in range(args.repeat):
                    wall, report = asyncio.run(
                        one(sandbox.kubeconfig, sandbox.admin_context, chart)
                    )
                    walls.append(wall)
                assert report is not None and report.cluster is not None
                info = report.cluster
                total = info.requests["total"]
                no_dry = total - info.requests.get("dry-run", 0)
                phases = ", ".join(f"{k} {v}" for k, v in info.requests.items() if k != "total")
                print(f"{report.objects} objects, {report.references} references:")
                print(
                    f"  wall (best/median of {args.repeat}): {min(walls):.2f} / "
                    f"{statistics.median(walls):.2f} s   target < 3 s for 1,000 objects"
                )
                print(f"  API requests: {total} ({phases})")
                print(f"  list calls for lookups: {info.list_requests}")
                print(
                    f"  requests / objects: {total / report.objects:.2f} "
                    f"(without the dry run: {no_dry / report.objects:.3f})"
                )
                print(
                    f"  dry run: {info.dry_run_verified} objects accepted; findings: "
                    f"{report.counts()}"
                )
    finally:
        with sandbox.admin_http() as api:
            api.delete(f"/api/v1/namespaces/{NAMESPACE}")


if __name__ == "__main__":
    main()
