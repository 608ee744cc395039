"""Helm's existingResourceConflict, before a revision's record is written: each object the
revision creates (one the revision it upgrades from did not have) that exists already must
be this release's, unless --take-ownership (--adopt) takes it over."""

from __future__ import annotations

import asyncio
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
    *,
    concurrency: int = 16,
) -> OwnershipConflict | None:
    """The first object (in `objects`' order) not in `current`'s manifest that exists and
    is not release `namespace/name`'s; None when there is none. Other errors are raised."""
    known = {o.ref for o in current.objects} if current is not None else set()
    gate = asyncio.Semaphore(concurrency)

    async def check(obj: K8sObject) -> None:
        async with gate:
            live = await cluster.get(obj.ref, obj.api_version)
        if live is not None:
            check_ownership(obj.ref, live, namespace, name, adopt=False)

    created = [o for o in objects if o.ref not in known]
    answers = await asyncio.gather(*(check(o) for o in created), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, OwnershipConflict):
            raise answer
    return next((a for a in answers if isinstance(a, OwnershipConflict)), None)
