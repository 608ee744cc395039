"""Record the objects tests/deploy/test_deciders.py starts its fake cluster from.

    uv run helmguard sandbox up --name NAME
    uv run python tests/deploy/record_deciders.py --name NAME

deploys the `decided` chart as release `web` in namespace `decided` (which must not
exist) twice with helmguard, not waiting (revision 1 with the extra ConfigMap, revision 2 without),
and writes tests/deploy/fixtures/deciders.json: the release's objects and records as the
API server returned them after each revision, a Lease as held during an operation, and
the Status the server answers to the invalid Service of `--set broken=true`. The
namespace is deleted at the end. Run it again when the record format or the chart changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, deploy
from helmguard.deploy.cluster import Cluster
from helmguard.deploy.lock import acquire
from helmguard.deploy.release import owner_of, release_id, stamp
from helmguard.kube.client import connect
from helmguard.kube.errors import KubeError
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.sandbox.cluster import load_sandbox

HERE = Path(__file__).parent
CHART = HERE / "charts" / "decided"
FIXTURE = HERE / "fixtures" / "deciders.json"
NAMESPACE = "decided"
RELEASE = "web"
KINDS = (("", "ConfigMap"), ("", "Service"), ("", "Secret"))


def _request(*sets: str) -> RenderRequest:
    return RenderRequest(
        chart=str(CHART),
        release=RELEASE,
        namespace=NAMESPACE,
        values=ValuesOptions(set_values=sets),
    )


def _recorded(body: dict[str, Any]) -> dict[str, Any]:
    """The object without managedFields (the fake does not merge fields)."""
    meta = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return {**body, "metadata": meta}


async def _snapshot(cluster: Cluster) -> list[dict[str, Any]]:
    """The namespace, the release's records and the objects it owns, as served."""
    found = [await cluster.get(ObjectRef("", "Namespace", "", NAMESPACE))]
    for group, kind in KINDS:
        for item in await cluster.list(group, kind, NAMESPACE):
            labels = item["metadata"].get("labels") or {}
            mine = owner_of(item) == release_id(NAMESPACE, RELEASE)
            if mine or (labels.get("owner") == "helm" and labels.get("name") == RELEASE):
                found.append(item)
    return [_recorded(o) for o in found if o is not None]


async def record(name: str) -> None:
    kubeconfig = str(load_sandbox(name).kubeconfig)
    # Not waited for: the Service selects no pods (the fake cluster has no readiness either).
    options = DeployOptions(kubeconfig=kubeconfig, timeout=90, wait=False)
    kube = await connect(kubeconfig, None, timeout=30)
    cluster = Cluster(kube, deadline=time.monotonic() + 300)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    await cluster.create(namespace)
    try:
        states: dict[str, list[dict[str, Any]]] = {}
        for state, sets in (("one-revision", ()), ("two-revisions", ("extra=false",))):
            result = await deploy(_request(*sets), options)
            if not result.ok:
                raise SystemExit(f"{state}: {result.outcome}: {result.message}")
            states[state] = await _snapshot(cluster)
        lock = await acquire(cluster, NAMESPACE, RELEASE, operation="deploy")
        lease = await cluster.get(lock.ref, "coordination.k8s.io/v1")
        await lock.release()
        assert lease is not None
        broken = K8sObject(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"{RELEASE}-broken", "namespace": NAMESPACE},
                "spec": {"selector": {"app": RELEASE}, "ports": [{"port": 70000}]},
            }
        )
        try:
            await cluster.apply(stamp(broken, NAMESPACE, RELEASE, 3), force=False, dry_run=True)
        except KubeError as err:
            invalid = err.status
        else:
            raise SystemExit("the API server accepted a Service with port 70000")
    finally:
        ref = ObjectRef("", "Namespace", "", NAMESPACE)
        await cluster.delete(ref)
        for _ in range(120):  # gone, so the next recording can create it again
            if await cluster.get(ref) is None:
                break
            await asyncio.sleep(1)
        await kube.aclose()
    fixture = {
        "namespace": NAMESPACE,
        "release": RELEASE,
        "states": states,
        "lease": _recorded(lease),
        "invalid": invalid,
    }
    FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="default", help="the running sandbox to record from")
    asyncio.run(record(parser.parse_args().name))


if __name__ == "__main__":
    main()
