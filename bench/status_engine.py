"""Status evaluations per second on recorded objects (target: >= 50,000/s for Pods and Deployments).

    uv run python bench/status_engine.py [--seconds 1.0]

Objects are parsed once from tests/status/fixtures; each evaluation is one `evaluate()`
call on a prepared Observed, which is what the sync does on every watch event.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from helmguard.manifest import K8sObject, parse_objects
from helmguard.status import Observed, build_ownership, evaluate, observe

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "status" / "fixtures"
NOW = datetime.fromisoformat("2025-06-01T10:05:00Z")


def _load(name: str) -> list[K8sObject]:
    return parse_objects((FIXTURES / f"{name}.yaml").read_text(), name)


def _rate(observed: Sequence[Observed], seconds: float) -> tuple[float, int]:
    """Evaluations per second over about `seconds`, cycling through `observed`."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for item in observed:
            evaluate(item)
        count += len(observed)
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()

    pod_objects = _load("pods")
    events = tuple(o for o in pod_objects if o.kind == "Event")
    pods = [Observed(p, NOW, (), events) for p in pod_objects if p.kind == "Pod"]

    seed = _load("seed_missing_sa")
    tree = build_ownership(seed)
    deployments = [observe(o, tree, NOW) for o in seed if o.kind == "Deployment"]
    # A healthy Deployment with its current ReplicaSet and a ready pod under it.
    healthy_pod = next(p for p in pod_objects if p.name.endswith("-ready"))
    rs = next(o for o in seed if o.kind == "ReplicaSet")
    dep = next(o for o in seed if o.kind == "Deployment")
    dep_body = {
        **dep.body,
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [c for c in dep.status["conditions"] if c["type"] != "ReplicaFailure"],
        },
    }
    rs_body = {**rs.body, "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
    pod_body = {
        **healthy_pod.body,
        "metadata": {
            **healthy_pod.metadata,
            "namespace": "msga-cn",
            "ownerReferences": [{"uid": rs.metadata["uid"], "controller": True}],
        },
    }
    healthy = [K8sObject(dep_body), K8sObject(rs_body), K8sObject(pod_body)]
    deployments.append(observe(healthy[0], build_ownership(healthy), NOW))

    rows = [
        ("Pod", pods),
        ("Deployment", deployments),
        ("mixed", [*pods, *deployments]),
    ]
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} on {os.cpu_count()} cores (figures drop when the machine is busy)"
    )
    print(f"{'objects':<12}{'variants':>9}{'evaluations':>14}{'per second':>14}")
    for label, observed in rows:
        rate, count = _rate(observed, args.seconds)
        verdict = "ok" if rate >= 50_000 else "BELOW TARGET"
        print(f"{label:<12}{len(observed):>9}{count:>14,}{rate:>14,.0f}  {verdict}")


if __name__ == "__main__":
    main()
