"""Helm's existingResourceConflict, before a revision's record is written: each object the
revision creates (one the revision it upgrades from did not have) that exists already must
be this release's, unless --take-ownership (--adopt) takes it over."""

from __future__ import annotations

from collections.abc import Sequence

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.release import RevisionManifest, check_ownership
from helmguard.kube.errors import OwnershipConflict
from helmguard.manifest import K8sObject


async def ownership_conflict(
    cluster: Cluster,
    objects: Sequence[K8sObject],
    current: RevisionManifest | None,
    namespace: str,
    name: str,
) -> OwnershipConflict | None:
    """The first object (in `objects`' order) not in `current`'s manifest that exists and
    is not release `namespace/name`'s; None when there is none. Other errors are raised.

    What exists is read as the apply reads it: one list per (kind, namespace), not a GET each.
    """
    known = {o.ref for o in current.objects} if current is not None else set()
    created = [o for o in objects if o.ref not in known]
    live = await cluster.existing(created)
    for obj in created:
        if obj.ref in live:
            try:
                check_ownership(obj.ref, live[obj.ref], namespace, name, adopt=False)
            except OwnershipConflict as conflict:
                return conflict
    return None
