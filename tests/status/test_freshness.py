"""Nothing is Ready before its controller has observed it: objects recorded as created.

fixtures/fresh.yaml holds what the API server returned on create (a DaemonSet's status
already says 0 desired nodes, with no observedGeneration); fresh_blocked.yaml the same
namespace once the controllers had looked (pods refused: the ServiceAccount is missing).
"""

from __future__ import annotations

import pytest

from helmguard.manifest import ObjectRef
from helmguard.status import State, build_ownership, evaluate, index_events, observe
from status.helpers import edited, load, named
from status.kinds import NOW, obj, run

FRESH = load("fresh")
BLOCKED = load("fresh_blocked")
NODES = [named(FRESH, "Node")]


@pytest.mark.parametrize("kind", ["DaemonSet", "Deployment", "StatefulSet", "PodDisruptionBudget"])
def test_as_created_is_progressing(kind: str) -> None:
    created = named(FRESH, kind)
    assert "observedGeneration" not in created.status
    st = run(created, nodes=NODES)
    assert (st.state, st.reason) == (State.PROGRESSING, "ObservedGenerationLag"), st
    assert f"the {kind} controller has not observed generation 1 yet" in st.message


def test_daemonset_first_status_is_not_taken_for_no_node() -> None:
    ds = named(FRESH, "DaemonSet")
    assert ds.status.get("desiredNumberScheduled") == 0  # what used to read as Ready
    assert run(ds, nodes=[]).state is State.PROGRESSING


@pytest.mark.parametrize("kind", ["DaemonSet", "Deployment", "StatefulSet"])
def test_once_observed_the_missing_service_account_blocks(kind: str) -> None:
    target = named(BLOCKED, kind)
    events = index_events(o for o in BLOCKED if o.kind == "Event")
    tree = build_ownership(o for o in BLOCKED if o.kind != "Event")
    st = evaluate(observe(target, tree, NOW, events, NODES))
    assert st.state is State.BLOCKED, st
    assert st.root_cause == ObjectRef("", "ServiceAccount", target.namespace, "absent")


def test_lag_counts_only_when_behind_for_kinds_that_may_omit_it() -> None:
    able = [{"type": t, "status": "True", "reason": "ReadyForNewScale"}
            for t in ("AbleToScale", "ScalingActive")]  # fmt: skip
    hpa = edited(obj("HorizontalPodAutoscaler"), status__conditions=able)
    assert "observedGeneration" not in hpa.status  # written only behind a feature gate
    assert run(hpa).reason != "ObservedGenerationLag"
    behind = edited(hpa, metadata__generation=3, status__observedGeneration=2)
    assert run(behind).reason == "ObservedGenerationLag"
    widget = edited(obj("Widget"), status__observedGeneration=None, status__conditions=[])
    assert run(widget).state is State.READY  # a custom resource need not write it
