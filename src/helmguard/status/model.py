"""The status vocabulary: states, the result of a rule, and what a rule looks at."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from helmguard.manifest import K8sObject, ObjectRef


class State(enum.Enum):
    """What an object is doing, as DESIGN.md defines it."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    BLOCKED = "Blocked"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    MISSING = "Missing"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        """Higher is worse: Failed > Blocked > Missing > Unknown > Terminating > Progressing."""
        return _SEVERITY[self]

    def __str__(self) -> str:
        return self.value


_SEVERITY = {
    State.READY: 0,
    State.PROGRESSING: 1,
    State.TERMINATING: 2,
    State.UNKNOWN: 3,
    State.MISSING: 4,
    State.BLOCKED: 5,
    State.FAILED: 6,
}


@dataclass(frozen=True, slots=True)
class ResourceStatus:
    """The verdict on one object (or one component): state, why, since when, and the culprit.

    `message` carries the cluster's own words when there are any; `since` is the
    lastTransitionTime of the condition that decided, or None when nothing dates it;
    `root_cause` is the object that explains the state when it is not this one.
    """

    ref: ObjectRef
    state: State
    reason: str
    message: str
    since: datetime | None = None
    observed_generation: int | None = None
    resource_version: str | None = None
    root_cause: ObjectRef | None = None


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything a rule may look at for one object.

    `children` holds what ownership says counts: for a Deployment its ReplicaSets and
    the current ReplicaSet's pods; for a StatefulSet, DaemonSet, Job or ReplicaSet its
    pods; for a CronJob its Jobs; for a Service its EndpointSlices. `events` are the
    Events about the object and its children: supplementary evidence only. `now` is
    passed in so rules never read the clock. `nodes` are the cluster's Nodes, for rules
    that judge placement (a DaemonSet with no desired node); None when they could not be
    read, which such a rule must not take for "no node".
    """

    obj: K8sObject
    now: datetime
    children: Sequence[K8sObject] = field(default=())
    events: Sequence[K8sObject] = field(default=())
    nodes: Sequence[K8sObject] | None = None
