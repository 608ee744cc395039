"""The sync's index with recorded objects: Nodes as context, Services judged by backends."""

from __future__ import annotations

import copy

from helmguard.manifest import K8sObject
from helmguard.status import State
from helmguard.store import ReleaseKey
from helmguard.sync.index import ClusterIndex, node_essentials
from helmguard.sync.releases import ManagedRelease
from helmguard.sync.selector import parse_selector
from status.helpers import at, edited, load, named

NOW = at("2025-06-01T10:05:00Z")
NODE = named(load("fresh"), "Node")
DS = named(load("daemonset_no_node"), "DaemonSet")
KEY = ReleaseKey(DS.namespace, "agent")
# The DaemonSet's pods run as the namespace's default ServiceAccount, which exists.
DEFAULT_SA = K8sObject(
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "default", "namespace": DS.namespace, "uid": "sa-default"}}
)  # fmt: skip


def _service() -> tuple[K8sObject, K8sObject]:
    """A Service selecting the DaemonSet's pods, and its (empty) EndpointSlice."""
    kinds = load("kinds")
    labels = DS.spec["template"]["metadata"]["labels"]
    svc = edited(named(kinds, "Service"), metadata__namespace=DS.namespace,
                 spec__type="ClusterIP", spec__selector=labels)  # fmt: skip
    owner = [
        dict(named(kinds, "EndpointSlice").metadata["ownerReferences"][0], uid=svc.metadata["uid"])
    ]
    empty = edited(named(kinds, "EndpointSlice"), metadata__namespace=DS.namespace,
                   metadata__ownerReferences=owner, endpoints=[])  # fmt: skip
    return svc, empty


def _index(*objects: K8sObject) -> ClusterIndex:
    index = ClusterIndex()
    for obj in (DEFAULT_SA, *objects):
        index.apply("ADDED", dict(obj.body))
    inventory = frozenset(o.ref for o in objects if o.kind in ("DaemonSet", "Service"))
    index.add_release(ManagedRelease(KEY, parse_selector("app=none"), inventory))
    return index


def test_nodes_are_unknown_until_listed() -> None:
    index = _index(DS)
    index.apply("ADDED", node_essentials(NODE.body))
    ref = DS.ref
    assert index.evaluate_member(KEY, ref, NOW).state is State.UNKNOWN
    index.nodes_known = True
    st = index.evaluate_member(KEY, ref, NOW)
    assert (st.state, st.reason) == (State.READY, "NoMatchingNodes")


def test_only_a_placement_change_of_a_node_touches_daemonsets() -> None:
    index = _index(DS)
    index.nodes_known = True
    assert index.apply("ADDED", node_essentials(NODE.body)).members == {(KEY, DS.ref)}
    heartbeat = copy.deepcopy(dict(NODE.body))
    heartbeat["metadata"]["resourceVersion"] = "999999"
    heartbeat["status"]["conditions"] = []
    assert not index.apply("MODIFIED", node_essentials(heartbeat)).members
    labelled = copy.deepcopy(dict(NODE.body))
    labelled["metadata"]["labels"]["helmguard.test/no-such-label"] = "true"
    assert index.apply("MODIFIED", node_essentials(labelled)).members == {(KEY, DS.ref)}
    st = index.evaluate_member(KEY, DS.ref, NOW)
    assert (st.state, st.reason) == (State.PROGRESSING, "NodesNotYetScheduled")
    assert node_essentials(NODE.body).get("status") is None  # heartbeats are not kept


def test_service_behind_a_daemonset_no_node_may_run_is_blocked_on_it() -> None:
    svc, empty = _service()
    index = _index(DS, svc, empty)
    index.apply("ADDED", node_essentials(NODE.body))
    index.nodes_known = True
    st = index.evaluate_member(KEY, svc.ref, NOW)
    assert (st.state, st.reason, st.root_cause) == (State.BLOCKED, "NoBackendPods", DS.ref)
    # The DaemonSet changing re-evaluates the Service that depends on it.
    changed = edited(DS, metadata__resourceVersion="424242")
    assert (KEY, svc.ref) in index.apply("MODIFIED", dict(changed.body)).members


def _retrying_job() -> tuple[K8sObject, K8sObject]:
    """The recorded Job after its first attempt failed (backoffLimit 2: it tries again),
    and that attempt's pod."""
    job = edited(named(load("kinds"), "Job"), status__conditions=None, status__failed=1,
                 status__active=1)  # fmt: skip
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job.name,
             "uid": job.metadata["uid"], "controller": True}  # fmt: skip
    failed = edited(named(load("pods"), "Pod", "web-5d8f7c9b6-evicted"),
                    metadata__namespace=job.namespace, metadata__name="migrate-1",
                    metadata__uid="pod-migrate-1", metadata__ownerReferences=[owner],
                    status__reason="Error")  # fmt: skip
    return job, failed


def test_a_job_retrying_after_a_failed_pod_is_not_failed() -> None:
    job, failed = _retrying_job()
    account = edited(DEFAULT_SA, metadata__namespace=job.namespace)
    index = ClusterIndex()
    for obj in (account, job, failed):
        index.apply("ADDED", dict(obj.body))
    key = ReleaseKey(job.namespace, "migrate")
    index.add_release(ManagedRelease(key, None, frozenset({job.ref})))
    st = index.evaluate_member(key, job.ref, NOW)
    assert (st.state, st.reason) == (State.PROGRESSING, "Running"), st
    assert "1 failed (backoff limit 2)" in st.message


def _scheduled_pod() -> tuple[K8sObject, K8sObject]:
    """A recorded pod and its kubelet Event, as events.k8s.io/v1 (what the sync watches)."""
    pods = load("pods")
    pod = named(pods, "Pod", "web-5d8f7c9b6-mount")
    core = named(pods, "Event")
    event = K8sObject(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": dict(core.metadata),
            "regarding": core.body["involvedObject"],
            "reason": core.body["reason"],
            "note": core.body["message"],
            "type": core.body["type"],
        }
    )
    return pod, event


def test_an_event_that_comes_before_its_pod_is_stored_once_the_pod_is_indexed() -> None:
    """Informers of different kinds keep no order: a replacement pod's Scheduled may arrive
    before the pod. It is handed over with the pod's first notification, once only."""
    pod, event = _scheduled_pod()
    index = ClusterIndex()
    key = ReleaseKey(pod.namespace, "web")
    index.add_release(ManagedRelease(key, None, frozenset({pod.ref})))
    early = index.apply("ADDED", dict(event.body))
    assert (early.members, early.events) == (frozenset(), ())
    arrived = index.apply("ADDED", dict(pod.body))
    assert (key, pod.ref) in arrived.members
    assert [e.name for e in arrived.events] == [event.name]
    assert index.apply("MODIFIED", dict(pod.body)).events == ()
    # Once the pod is known, its Events come with their own notifications.
    again = index.apply("MODIFIED", dict(event.body))
    assert (key, pod.ref) in again.members and [e.name for e in again.events] == [event.name]


def test_an_early_event_waits_for_its_object_to_be_part_of_a_release() -> None:
    pod, event = _scheduled_pod()
    index = ClusterIndex()
    index.apply("ADDED", dict(event.body))
    assert index.apply("ADDED", dict(pod.body)).events == ()  # no release has it yet
    key = ReleaseKey(pod.namespace, "web")
    index.add_release(ManagedRelease(key, None, frozenset({pod.ref})))
    assert [e.name for e in index.apply("MODIFIED", dict(pod.body)).events] == [event.name]
