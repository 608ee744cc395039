"""What every action works with: its options, and the Configuration its caller builds once.

As Helm's `action.Configuration`: the CLI (per command) or the API (per process) builds
one — how to reach the cluster, the store, the clock and the log's listeners — and
hands it to each action (`deploy`, `rollback`, `uninstall`, `release_test`, `settle`).
Given a Configuration whose `cluster` factory returns an in-memory stand-in for
helmguard's own cluster interface (`deploy.cluster.Cluster`), an action's decisions can
be exercised without a control plane (tests/deploy/fakecluster.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.lock import LOCK_NAMESPACE
from helmguard.kube.client import Kube, connect

if TYPE_CHECKING:
    from helmguard.deploy.oplog import Listener
    from helmguard.store import Store

# Recording the outcome (store and cluster), releasing the Lease and writing the log get
# this long after the operation's own deadline, which a timeout has used up entirely.
CLEANUP_SECONDS = 20.0

# The store may be handed over still opening (its imports are slow): awaited when first needed.
StoreOpener = Callable[[], Awaitable["Store | None"]]

# Opens the connection an action uses, given the seconds it may take to connect.
KubeFactory = Callable[[float], Awaitable[Kube]]

# Builds the Cluster an action works through, given how to open its connection (cached
# by the caller) and the operation's deadline on time.monotonic.
ClusterFactory = Callable[[Callable[[], Awaitable[Kube]], float], Awaitable[Cluster]]


@dataclass(frozen=True)
class DeployOptions:
    """How to reach the cluster and how careful to be."""

    kubeconfig: str | None = None
    context: str | None = None
    cluster: str = ""  # the store's key of the cluster (ReleaseKey.cluster; "" the default)
    timeout: float = 300.0
    wait: bool = True
    force: bool = False  # skip the preflight gate
    force_conflicts: bool = False
    adopt: bool = False
    atomic: bool = False
    concurrency: int = 16
    keep_history: bool = False
    # A LoadBalancer Service without an address is reported, and waited for only if asked.
    wait_for_load_balancers: bool = False
    lock_namespace: str = LOCK_NAMESPACE
    driver: str | None = None  # HELM_DRIVER: secret or configmap (None: the environment's)
    description: str = ""  # the revision's description instead of Helm's default
    history_max: int = 10  # records kept per release, as helm upgrade's default (0: all)
    create_namespace: bool = False
    # An upgrade's values, as helm upgrade's flags: "" (Helm's default: the previous
    # revision's values when none are given), "reuse", "reset", "reset-then-reuse".
    values_mode: str = ""
    skip_crds: bool = False  # helm's --skip-crds: the chart's crds/ are not installed
    # helm's --no-hooks: no hook of the operation's events runs (they are still recorded),
    # nor those of the atomic undo after it (Helm passes DisableHooks on to both).
    no_hooks: bool = False
    # helm upgrade's --cleanup-on-fail: a failed upgrade deletes the objects it created.
    cleanup_on_fail: bool = False
    # helm's -l/--labels: custom labels of the release record, merged over the previous
    # revision's on an upgrade ("null" removes one).
    labels: Mapping[str, str] = field(default_factory=dict)
    # What must be true of the release name first, as helm checks it: "install" (no release
    # of that name: helm install), "upgrade" (one not uninstalled: helm upgrade without
    # --install), "" (either: helm upgrade --install).
    require: str = ""


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def kube_cluster(kube: Callable[[], Awaitable[Kube]], deadline: float) -> Cluster:
    """Today's Cluster: the API calls over the Kube connection `kube` opens."""
    return Cluster(await kube(), deadline=deadline)


@dataclass(frozen=True)
class Configuration:
    """The cluster, store, clock and log listeners an action works with.

    `connect` opens the cluster connection; the action closes it at the end unless
    `close_kube` is False (the connection is the caller's). `cluster` builds the objects'
    interface the action decides with (default: over that connection). `now` is the wall
    clock of what is recorded (record timestamps); deadlines are measured on time.monotonic.
    """

    connect: KubeFactory
    store: Store | StoreOpener | None = None
    now: Callable[[], datetime] = _utcnow
    listeners: Sequence[Listener] = ()
    close_kube: bool = True
    cluster: ClusterFactory = kube_cluster

    @classmethod
    def from_options(
        cls,
        options: DeployOptions,
        *,
        store: Store | StoreOpener | None = None,
        listeners: Sequence[Listener] = (),
    ) -> Configuration:
        """Connect with the options' kubeconfig and context, once per action."""

        async def connect_from_options(seconds: float) -> Kube:
            return await connect(options.kubeconfig, options.context, timeout=seconds)

        return cls(connect_from_options, store, listeners=listeners)

    @classmethod
    def reusing(
        cls,
        kube: Kube,
        *,
        store: Store | StoreOpener | None = None,
        listeners: Sequence[Listener] = (),
    ) -> Configuration:
        """Use the caller's open connection (left open when the action ends)."""

        async def existing(_seconds: float) -> Kube:
            return kube

        return cls(existing, store, listeners=listeners, close_kube=False)


def configuration(
    options: DeployOptions,
    config: Configuration | None,
    store: Store | StoreOpener | None,
    listeners: Sequence[Listener],
) -> Configuration:
    """The Configuration an action runs with: the caller's, or one built from `options`.

    `store` is the shorthand of callers that build none; giving both is a mistake.
    """
    if config is None:
        return Configuration.from_options(options, store=store, listeners=listeners)
    if store is not None:
        raise TypeError("pass the store in the Configuration, not beside it")
    return replace(config, listeners=(*config.listeners, *listeners)) if listeners else config
