"""One operation per release at a time: a coordination.k8s.io Lease, renewed while held.

The Lease is named after the release and lives in the release namespace, beside the
release's records (whoever may write the release may lock it there). Only when that
namespace does not exist yet (a first install whose namespace is being created) does it
go to a fixed namespace (`LOCK_NAMESPACE`). `acquire` looks in both places, before and
after taking its own, so two processes never disagree about who holds the release: if
both raced into different places, both back off. A Lease is free when it expired (its
holder stopped renewing), or at once when its holder (`host/pid/operation/uuid`) ran on
this host under a pid that no longer exists; once `acquire` holds the release, a dead
holder's Lease in the other place is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.release import RELEASE_ANNOTATION, release_id
from helmguard.kube.errors import KubeError
from helmguard.manifest import ObjectRef
from helmguard.status.fields import micro_time

LOCK_NAMESPACE = "default"
LEASE_SECONDS = 30


class ReleaseLocked(KubeError):
    """Another operation holds the release's Lease."""


def lease_name(namespace: str, name: str) -> str:
    """A valid, stable object name for the release's Lease."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:10]
    return f"helmguard-{namespace[:20]}-{name[:20]}-{digest}".lower()


def holder_gone(holder: str) -> bool:
    """Whether a Lease's holder is known dead: it ran on this host and its pid is gone."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's: only expiry can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def lease_free(live: dict[str, Any] | None, now: datetime) -> bool:
    """Whether a Lease may be taken: absent, expired, or its holder is known dead."""
    if live is None:
        return True
    spec = live.get("spec") or {}
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    if renewed is None or renewed + timedelta(seconds=duration) <= now:
        return True
    return holder_gone(str(spec.get("holderIdentity") or ""))


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class ReleaseLock:
    """A held Lease; `release()` gives it up. Renewal runs in the background while held."""

    cluster: Cluster
    ref: ObjectRef
    holder: str
    _task: asyncio.Task[None] | None = None

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(KubeError):
                live = await self.cluster.get(self.ref, "coordination.k8s.io/v1")
                if live is None or (live.get("spec") or {}).get("holderIdentity") != self.holder:
                    return
                live["spec"]["renewTime"] = micro_time(datetime.now(UTC))
                await self.cluster.replace(live)

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(KubeError):
            live = await self.cluster.get(self.ref, "coordination.k8s.io/v1")
            if live is not None and (live.get("spec") or {}).get("holderIdentity") == self.holder:
                await self.cluster.delete(self.ref)


def _locked(namespace: str, name: str, ref: ObjectRef, live: dict[str, Any]) -> ReleaseLocked:
    spec = live.get("spec") or {}
    duration = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    return ReleaseLocked(
        f"release {namespace}/{name} is locked: {spec.get('holderIdentity')} holds "
        f"Lease {ref.namespace}/{ref.name} since {spec.get('acquireTime')}; another "
        "deploy, rollback or uninstall of this release is running.",
        fix="Wait for it to finish and retry. If its process died, the Lease expires "
        f"{duration}s after its last renewal.",
    )


async def lock_refs(
    cluster: Cluster, namespace: str, name: str, lock_namespace: str
) -> list[ObjectRef]:
    """Where the release's Lease may be: its home first (the release namespace if it exists)."""
    lease = lease_name(namespace, name)
    here = ObjectRef("coordination.k8s.io", "Lease", namespace, lease)
    there = ObjectRef("coordination.k8s.io", "Lease", lock_namespace, lease)
    if namespace == lock_namespace:
        return [here]
    try:
        exists = await cluster.get(ObjectRef("", "Namespace", "", namespace)) is not None
    except KubeError as err:
        if err.code != 403:
            raise
        exists = True  # a deployer who may not read Namespaces deploys into an existing one
    return [here, there] if exists else [there, here]


async def acquire(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    operation: str,
    lock_namespace: str = LOCK_NAMESPACE,
) -> ReleaseLock:
    """Take the release's Lease or raise ReleaseLocked naming who holds it and since when."""
    ref, *others = await lock_refs(cluster, namespace, name, lock_namespace)
    holder = f"{socket.gethostname()}/{os.getpid()}/{operation}/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    for other in others:
        live = await cluster.get(other, "coordination.k8s.io/v1")
        if not lease_free(live, now):
            assert live is not None
            raise _locked(namespace, name, other, live)
    body: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": ref.name,
            "namespace": ref.namespace,
            "annotations": {RELEASE_ANNOTATION: release_id(namespace, name)},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
        },
    }
    try:
        await cluster.create(body)
    except KubeError as err:
        if err.code != 409:
            raise
        live = await cluster.get(ref, "coordination.k8s.io/v1")
        if not lease_free(live, now):
            assert live is not None
            raise _locked(namespace, name, ref, live) from None
        if live is None:
            await cluster.create(body)
        else:
            # The holder stopped renewing or died: take over with an optimistic-locked replace.
            live["spec"] = body["spec"]
            try:
                await cluster.replace(live)
            except KubeError as err2:
                if err2.code == 409:
                    raise ReleaseLocked(
                        f"release {namespace}/{name} was locked by someone else just now.",
                        fix="Retry once the other operation is done.",
                    ) from None
                raise
    lock = ReleaseLock(cluster, ref, holder)
    for other in others:
        # Another process may have taken the other place meanwhile: then neither proceeds.
        live = await cluster.get(other, "coordination.k8s.io/v1")
        if not lease_free(live, datetime.now(UTC)):
            assert live is not None
            await lock.release()
            raise _locked(namespace, name, other, live)
        if live is not None:
            # A dead holder's Lease there: whoever takes it now sees ours and backs off.
            with contextlib.suppress(KubeError):
                await cluster.delete(other)
    lock._task = asyncio.create_task(lock._renew_forever())
    return lock
