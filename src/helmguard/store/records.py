"""Plain, frozen records that enter and leave the store; no ORM object crosses its boundary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helmguard.manifest import ObjectRef


@dataclass(frozen=True, order=True)
class ReleaseKey:
    """A Helm release is named within a namespace; `cluster` tells clusters apart ("" = the one)."""

    namespace: str
    name: str
    cluster: str = ""

    def __str__(self) -> str:
        where = f"{self.cluster}:" if self.cluster else ""
        return f"{where}{self.namespace}/{self.name}"


# A release's app status transitions are kept in history under this key (group, kind).
APP_GROUP = "helmguard.io"
APP_KIND = "Release"


def app_ref(key: ReleaseKey) -> ObjectRef:
    """The key under which a release's app status transitions are stored in history."""
    return ObjectRef(APP_GROUP, APP_KIND, key.namespace, key.name)


@dataclass(frozen=True)
class AppRecord:
    """A release's app status (the worst of its objects), as observed at `observed_at`."""

    state: str
    reason: str
    message: str
    since: datetime
    observed_at: datetime
    root_cause: ObjectRef | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    """What helmguard knows about a release: its chart, its current revision, its status.

    `status` is what the last operation (deploy, rollback, uninstall) left, in its words;
    `app` is the app status the sync last stored (None: never observed). Writing a release
    record never changes `app`.
    """

    key: ReleaseKey
    chart: str
    chart_version: str
    current_revision: int | None = None
    status: str = "Unknown"
    updated_at: datetime | None = None
    app: AppRecord | None = None


@dataclass(frozen=True, order=True)
class InventoryItem:
    """One object of a revision's inventory, with the uid the API server gave it ("": not yet)."""

    ref: ObjectRef
    uid: str = ""


@dataclass(frozen=True)
class RevisionRecord:
    """One install/upgrade/rollback/uninstall of a release; values are kept as a digest only.

    `inventory` is what the revision put (or meant to put) on the cluster; None for records
    that do not carry one (a release registered with `manage`, or written before it existed).
    """

    release: ReleaseKey
    number: int
    chart: str
    chart_version: str
    values_digest: str
    started_at: datetime
    plan: Mapping[str, Any] | None = None
    outcome: str = "pending"
    finished_at: datetime | None = None
    inventory: tuple[InventoryItem, ...] | None = None


@dataclass(frozen=True)
class ObservedStatus:
    """A status computed from what was observed in the cluster, with when it was observed."""

    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime
    observed_at: datetime
    resource_version: str = ""
    generation: int | None = None
    root_cause: ObjectRef | None = None
    # A workload's child (ReplicaSet, Pod, Job) names its controlling owner; members none.
    owner: ObjectRef | None = None
    restarts: int | None = None  # a Pod's containers' restarts, summed


@dataclass(frozen=True)
class ResourceRecord:
    """The stored current status of one object of a release."""

    release: ReleaseKey
    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime
    observed_at: datetime
    resource_version: str
    generation: int | None
    root_cause: ObjectRef | None
    owner: ObjectRef | None = None
    restarts: int | None = None


@dataclass(frozen=True)
class TransitionRecord:
    """One change of an object's status: from_state is None for its first observation."""

    release: ReleaseKey
    ref: ObjectRef
    from_state: str | None
    to_state: str
    reason: str
    message: str
    at: datetime
    root_cause: ObjectRef | None = None


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event correlated to an object; `count` grows as the API server repeats it."""

    uid: str
    ref: ObjectRef
    type: str
    reason: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime
    source: str = ""


@dataclass(frozen=True)
class LogStep:
    """A step to append to an operation log (`Store.add_operation_logs`); seq comes on write."""

    step: str
    message: str
    level: str = "info"
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # None: when it is queued


@dataclass(frozen=True)
class LogEntry:
    """One step of an operation (install, upgrade, rollback, uninstall) on a release revision."""

    release: ReleaseKey
    revision: int
    seq: int
    at: datetime
    level: str
    step: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PruneResult:
    """How many rows `prune_history` deleted from each history table."""

    transitions: int
    events: int
    operation_log: int


@dataclass(frozen=True)
class SyncHolder:
    """The process that runs a cluster's sync into the store, and when it last said so."""

    cluster: str
    holder: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    elected: bool = False  # a `serve --leader-elect` replica's sync


# A cluster is named by a DNS-1123 label, as Kubernetes names a namespace; "" is the default.
_CLUSTER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def cluster_name_problem(name: str) -> str | None:
    """Why `name` cannot name a registered cluster (None: it can)."""
    if _CLUSTER_NAME.fullmatch(name):
        return None
    return (
        f"cluster {name!r} is not a cluster name: a DNS-1123 label (at most 63 lowercase "
        "letters, digits and '-', starting and ending with a letter or digit)"
    )


@dataclass(frozen=True)
class ClusterRecord:
    """A registered cluster: a kubeconfig file and one of its contexts, or (`secret`, with
    `kubeconfig` "") the NAMESPACE/NAME of a Secret in the cluster helmguard runs in that
    holds its connection (`context`: one of the Secret's kubeconfig, "" its current one);
    by a DNS-1123 name.

    Its releases are keyed `ReleaseKey(..., cluster=name)`; the key "" is the default
    cluster (the kubeconfig context in use, as before any cluster was registered).
    """

    name: str
    kubeconfig: str
    context: str
    added_at: datetime | None = None
    secret: str = ""

    @property
    def where(self) -> str:
        """Where its connection is read, for messages."""
        if self.secret:
            context = f"context {self.context!r} of " if self.context else ""
            return f"{context}Secret {self.secret}"
        return f"context {self.context!r} of {self.kubeconfig}"


@dataclass(frozen=True)
class RepositoryRecord:
    """A chart repository (kind "helm": index.yaml over HTTP(S)) or OCI registry ("oci").

    `secret` is the sealed password or token (None: none); only `helmguard.chart.repos`
    opens it. `index` is the cached list of chart versions from the last update.
    """

    name: str
    url: str
    kind: str
    username: str = ""
    secret: str | None = None
    ca_file: str = ""
    insecure: bool = False
    added_at: datetime | None = None
    index: tuple[Mapping[str, Any], ...] | None = None
    index_fetched_at: datetime | None = None


@dataclass(frozen=True)
class Culprit:
    """The worst resource of a release: what the list's one-liner says."""

    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime
    root_cause: ObjectRef | None


@dataclass(frozen=True)
class ReleaseSummary:
    """One row of the release list: the release (with its app status), its resource counts
    by state, and its worst resource."""

    release: ReleaseRecord
    counts: tuple[tuple[str, int], ...]
    culprit: Culprit | None


@dataclass(frozen=True)
class FeedTransition:
    """A status transition as the live stream publishes it: its row id and the transition."""

    id: int
    transition: TransitionRecord


@dataclass(frozen=True)
class FeedStep:
    """An operation-log row as the live stream publishes it: its row id and the entry."""

    id: int
    entry: LogEntry


@dataclass(frozen=True)
class FeedEvent:
    """A Kubernetes Event as the live stream publishes it: its row id, release and the Event
    (published when first stored; its count growing later is not a new row)."""

    id: int
    release: ReleaseKey
    event: EventRecord
