"""Pod: phase, scheduling, container states and FailedMount, read the way a kubelet writes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from helmguard.kube.messages import cause_from_message
from helmguard.manifest import K8sObject
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    Condition,
    cond_since,
    event_message,
    event_time,
    from_child,
    generation_lag,
    lag_message,
    latest_event,
    parse_time,
)

# The scheduler retries right away; only an Unschedulable that lasts is worth reporting.
UNSCHEDULABLE_WINDOW = timedelta(seconds=5)

# Heals by itself once the missing ConfigMap/Secret (or key) is created.
_BLOCKED_WAITING = frozenset({"CreateContainerConfigError"})
# Waiting reasons that are ordinary progress, not trouble.
_PROGRESS_WAITING = frozenset({"ContainerCreating", "PodInitializing"})
_RESTART_FAILURES = frozenset({"OOMKilled", "Error"})
_MOUNT_EVENTS = ("FailedMount", "FailedAttachVolume")

_EMPTY: Mapping[str, Any] = {}


def waiting_state(reason: str) -> State | None:
    """How serious a container waiting reason is; None when it is ordinary progress."""
    if reason in _BLOCKED_WAITING:
        return State.BLOCKED
    if reason in _PROGRESS_WAITING:
        return None
    if (
        reason.startswith("Err")
        or reason.endswith(("Error", "BackOff"))
        or reason == "InvalidImageName"
    ):
        return State.FAILED
    return None


def _container_statuses(status: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from status.get("initContainerStatuses") or ()
    yield from status.get("containerStatuses") or ()


def _verdict(
    pod: K8sObject,
    state: State,
    reason: str,
    message: str,
    since: datetime | None,
    cause_text: str = "",
) -> ResourceStatus:
    meta = pod.body.get("metadata") or _EMPTY
    generation = (pod.body.get("status") or _EMPTY).get("observedGeneration")
    return ResourceStatus(
        pod.ref,
        state,
        reason,
        message,
        since,
        generation if isinstance(generation, int) else None,
        meta.get("resourceVersion"),
        cause_from_message(cause_text, pod.ref.namespace) if cause_text else None,
    )


def evaluate_pod(pod: K8sObject, now: datetime, events: Sequence[K8sObject] = ()) -> ResourceStatus:
    """The status of one pod from its phase, conditions and container states.

    Failed: crash loops, image errors, restarts after OOMKilled/Error, phase Failed.
    Blocked: CreateContainerConfigError, Unschedulable for longer than
    UNSCHEDULABLE_WINDOW, ContainerCreating with a FailedMount event.
    """
    status = pod.body.get("status") or _EMPTY
    phase = status.get("phase")
    if phase == "Succeeded":
        return _verdict(pod, State.READY, "Completed", "all containers exited successfully", None)
    if phase == "Failed":
        reason = status.get("reason") or "PodFailed"
        return _verdict(pod, State.FAILED, reason, _failed_message(status), None)

    scheduled: Condition | None = None
    ready: Condition | None = None
    for cond in status.get("conditions") or ():
        kind = cond.get("type")
        if kind == "Ready":
            ready = cond
        elif kind == "PodScheduled":
            scheduled = cond
    if scheduled is not None and scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "Unschedulable"
        message = scheduled.get("message") or "the scheduler found no node for this pod"
        since = cond_since(scheduled)
        if reason == "SchedulingGated" or since is None or now - since >= UNSCHEDULABLE_WINDOW:
            return _verdict(pod, State.BLOCKED, reason, message, since)
        return _verdict(pod, State.PROGRESSING, "Scheduling", message, since)

    ready_since = cond_since(ready)
    creating = ""
    for cs in _container_statuses(status):
        state = cs.get("state") or _EMPTY
        waiting = state.get("waiting")
        if waiting is None and cs.get("ready"):
            continue
        last = (cs.get("lastState") or _EMPTY).get("terminated") or _EMPTY
        name = cs.get("name", "?")
        restarts = cs.get("restartCount") or 0
        if waiting is not None:
            wreason = waiting.get("reason") or ""
            wmessage = waiting.get("message") or ""
            if last.get("reason") == "OOMKilled":
                return _verdict(
                    pod,
                    State.FAILED,
                    "OOMKilled",
                    f"container {name} was OOMKilled (exit code {last.get('exitCode')}, "
                    f"{restarts} restarts); raise its memory limit"
                    + (f"; now {wreason}: {wmessage}" if wreason else ""),
                    parse_time(last.get("finishedAt")) or ready_since,
                )
            severity = waiting_state(wreason)
            if severity is not None:
                text = f"container {name}: {wreason}" + (f": {wmessage}" if wmessage else "")
                if wreason == "CrashLoopBackOff" and last:
                    text += f" (last exit code {last.get('exitCode')}, reason {last.get('reason')})"
                # Only config errors name a dependency; image and crash errors name none.
                cause = wmessage if severity is State.BLOCKED else ""
                return _verdict(pod, severity, wreason, text, ready_since, cause)
            if wreason and not creating:
                creating = wreason
        elif (
            restarts > 0
            and last.get("reason") in _RESTART_FAILURES
            and state.get("running") is not None
        ):
            # Running again after a crash but not ready: the restart loop is still going.
            return _verdict(
                pod,
                State.FAILED,
                last["reason"],
                f"container {name} restarted {restarts} times; last exit code "
                f"{last.get('exitCode')} ({last['reason']})",
                parse_time(last.get("finishedAt")) or ready_since,
            )

    if events and (
        creating == "ContainerCreating"
        or (phase == "Pending" and scheduled is not None and scheduled.get("status") == "True")
    ):
        uid = str((pod.body.get("metadata") or _EMPTY).get("uid") or "")
        mount = latest_event(events, _MOUNT_EVENTS, (uid,))
        if mount is not None:
            text = event_message(mount)
            reason = str(mount.body.get("reason"))
            return _verdict(pod, State.BLOCKED, reason, text, event_time(mount), text)

    if ready is not None and ready.get("status") == "True":
        if generation_lag(pod):
            # The kubelet has not yet acted on a spec change (e.g. a resize).
            return _verdict(pod, State.PROGRESSING, "ObservedGenerationLag", lag_message(pod), None)
        return _verdict(pod, State.READY, "Ready", "all containers ready", ready_since)
    if creating:
        return _verdict(pod, State.PROGRESSING, creating, f"containers {creating}", ready_since)
    message = (ready or _EMPTY).get("message") or f"pod is {phase or 'Pending'}"
    reason = (ready or _EMPTY).get("reason") or "NotReady"
    return _verdict(pod, State.PROGRESSING, reason, message, ready_since)


def _failed_message(status: Mapping[str, Any]) -> str:
    if status.get("message"):
        return str(status["message"])
    for cs in _container_statuses(status):
        term = (cs.get("state") or _EMPTY).get("terminated") or _EMPTY
        if term and term.get("exitCode"):
            return (
                f"container {cs.get('name')} exited with code {term.get('exitCode')}"
                f" ({term.get('reason') or 'Error'})"
            )
    return "pod failed"


def pod_restarts(pod: K8sObject) -> int:
    """How many times the pod's containers (init containers included) have restarted."""
    status = pod.body.get("status") or _EMPTY
    return sum(int(cs.get("restartCount") or 0) for cs in _container_statuses(status))


def pod(observed: Observed) -> ResourceStatus:
    """Rule for Pod objects."""
    return evaluate_pod(observed.obj, observed.now, observed.events)


def _plainly_ready(pod: K8sObject) -> bool:
    """Running, Ready and no container waiting: nothing for the rules to find (the hot path)."""
    status = pod.body.get("status") or _EMPTY
    if status.get("phase") != "Running":
        return False
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return False
            break
    else:
        return False
    return all(cs.get("ready") for cs in status.get("containerStatuses") or ())


def worst_pod_problem(
    pods: Iterable[K8sObject], now: datetime, events: Sequence[K8sObject] = ()
) -> ResourceStatus | None:
    """The worst Blocked or Failed pod among `pods`, or None if none is in trouble."""
    worst: ResourceStatus | None = None
    for p in pods:
        if p.metadata.get("deletionTimestamp") or _plainly_ready(p):
            continue
        st = evaluate_pod(p, now, events)
        if st.state in (State.BLOCKED, State.FAILED) and (
            worst is None or st.state.severity > worst.state.severity
        ):
            worst = st
    return worst


def pod_trouble(observed: Observed, pods: Sequence[K8sObject]) -> ResourceStatus | None:
    """The owner's status from the worst Blocked or Failed of `pods`; None when none is."""
    problem = worst_pod_problem(pods, observed.now, observed.events) if pods else None
    return None if problem is None else from_child(observed, problem)
