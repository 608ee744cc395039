"""When a hook has run, decided as Helm's WatchUntilReady does (pure, no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helmguard.deploy.observe import Snapshot, hook_runs, hook_verdict
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import State, build_ownership, evaluate, observe

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
STAMP = "2026-12-02T00:59:50Z"


def _snapshot(hook: dict[str, Any], *children: dict[str, Any]) -> tuple[Snapshot, Any]:
    obj = K8sObject(hook)
    kids = tuple(K8sObject(c) for c in children)
    status = evaluate(observe(obj, build_ownership([obj, *kids]), NOW, {}))
    return Snapshot(NOW, {obj.ref: obj}, {obj.ref: status}, kids), status


def _pod(phase: str, ready: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "smoke", "namespace": "app", "uid": "p1", **extra},
        "spec": {"containers": [{"name": "c", "image": "c:1"}]},
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": STAMP},
                {"type": "Ready", "status": ready, "lastTransitionTime": STAMP},
            ],
        },
    }


def _job(conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "app", "uid": "j1", "generation": 1},
        "spec": {"backoffLimit": 0, "template": {"spec": {"containers": []}}},
        "status": {"conditions": conditions, **status},
    }


def test_a_running_pod_hook_is_not_done_until_it_succeeds() -> None:
    snapshot, status = _snapshot(_pod("Running", "True"))
    assert status.state is State.READY  # the pod rule: running and Ready
    outcome = hook_verdict(status, snapshot)
    assert (outcome.done, outcome.ready) == (False, False)
    assert outcome.message == "pod smoke is Running"
    snapshot, status = _snapshot(_pod("Succeeded", "False"))
    outcome = hook_verdict(status, snapshot)
    assert (outcome.done, outcome.ready) == (True, True)


def test_only_job_and_pod_hooks_are_waited_for() -> None:
    assert hook_runs(ObjectRef("batch", "Job", "app", "x"))
    assert hook_runs(ObjectRef("", "Pod", "app", "x"))
    assert not hook_runs(ObjectRef("", "ServiceAccount", "app", "x"))
    assert not hook_runs(ObjectRef("example.com", "Job", "app", "x"))  # a custom kind


def test_job_hook_complete_or_failed_names_the_condition_and_its_pods() -> None:
    complete = _job(
        [{"type": "Complete", "status": "True", "lastTransitionTime": STAMP}], succeeded=1
    )
    snapshot, status = _snapshot(complete)
    outcome = hook_verdict(status, snapshot)
    assert outcome.ready and outcome.message == "Complete: 1 pods succeeded"
    failed = _job(
        [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": STAMP,
            }
        ],
        failed=1,
    )
    pod = _pod(
        "Failed",
        "False",
        ownerReferences=[{"kind": "Job", "name": "migrate", "uid": "j1", "controller": True}],
    )
    pod["metadata"]["name"] = "migrate-x7k2p"
    pod["status"]["containerStatuses"] = [
        {
            "name": "c",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": STAMP}},
        }
    ]
    snapshot, status = _snapshot(failed, pod)
    outcome = hook_verdict(status, snapshot)
    assert (outcome.done, outcome.ready, outcome.state) == (True, False, State.FAILED)
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in outcome.message
    assert "(pod migrate-x7k2p Failed " in outcome.message
