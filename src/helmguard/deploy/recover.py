"""After a crash: every operation whose owner process is gone is marked interrupted.

`recover(kube, store)` finds the releases a dead process may have left unfinished — a
stored revision still `pending`/`running`, a cluster record helmguard left pending-*, a
release Lease whose holder ran on this host under a pid that no longer exists — and
`settle`s each under its Lease (the steps every deploy, rollback and uninstall takes
first): the record and the stored revision say interrupted, with the objects that had
been applied, and the Lease is released. A release still locked by a live process is
left to it; a Lease of another host's process is left to expire. `serve` calls this
each time it connects to its cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.config import Configuration, DeployOptions
from helmguard.deploy.lock import holder_gone
from helmguard.deploy.release import (
    HELM_OWNER,
    PENDING_STATUSES,
    RECORD_NAME_LABEL,
    RECORD_OWNER_LABEL,
    RECORD_STATUS_LABEL,
    RELEASE_ANNOTATION,
    decode_record,
    record_kind,
)
from helmguard.deploy.result import Result
from helmguard.deploy.settle import settle
from helmguard.kube.errors import KubeError

if TYPE_CHECKING:
    from helmguard.kube.client import Kube
    from helmguard.store import Store


async def unfinished(
    cluster: Cluster, store: Store | None, kind: str, key: str = ""
) -> list[tuple[str, str]]:
    """The releases (namespace, name) a dead process may have left unfinished; `key` is
    the store's name of the cluster (ReleaseKey.cluster)."""
    found: dict[tuple[str, str], None] = {}
    if store is not None:
        for release in await store.unfinished_releases(key):
            found[(release.namespace, release.name)] = None
    statuses = ",".join(sorted(PENDING_STATUSES))
    selector = f"{RECORD_OWNER_LABEL}={HELM_OWNER},{RECORD_STATUS_LABEL} in ({statuses})"
    for item in await cluster.list("", kind, "", label_selector=selector):
        try:
            rev = decode_record(item)
        except ValueError:
            continue
        if rev.facts:  # helm's own pending records are helm's to finish
            labels = (item.get("metadata") or {}).get("labels") or {}
            found[(rev.namespace, str(labels.get(RECORD_NAME_LABEL) or rev.release))] = None
    for lease in await cluster.list("coordination.k8s.io", "Lease", ""):
        meta = lease.get("metadata") or {}
        owner = str((meta.get("annotations") or {}).get(RELEASE_ANNOTATION) or "")
        holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        if "/" in owner and holder_gone(holder):
            namespace, _, name = owner.partition("/")
            found[(namespace, name)] = None
    return list(found)


async def recover(
    kube: Kube,
    store: Store | None,
    *,
    options: DeployOptions | None = None,
    announce: Callable[[str], None] = lambda line: None,
) -> list[Result]:
    """Settle every release a dead process left unfinished; one Result per release settled.

    `options.cluster` names the cluster `kube` reaches in the store (its releases only)."""
    options = options or DeployOptions()
    cluster = Cluster(kube, deadline=time.monotonic() + options.timeout)
    config = Configuration.reusing(kube, store=store)
    results: list[Result] = []
    kind = record_kind(options.driver)
    for namespace, name in await unfinished(cluster, store, kind, options.cluster):
        try:
            result = await settle(namespace, name, options, config=config)
        except KubeError as err:  # locked by a live process, or helm is writing it
            announce(f"recover: release {namespace}/{name} left as it is: {err.message}")
            continue
        announce(f"recover: {result.message}")
        results.append(result)
    return results
