"""One operation per release at a time: a coordination.k8s.io Lease, renewed while held.

The Lease lives in a fixed namespace (the release namespace may not exist before the
first install) under a name derived from the release, so two helmguard processes on
different machines still see each other. An expired Lease (its holder died) is taken over.
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
from helmguard.kube.errors import KubeError
from helmguard.manifest import ObjectRef

LOCK_NAMESPACE = "default"
LEASE_SECONDS = 30


class ReleaseLocked(KubeError):
    """Another operation holds the release's Lease."""


def lease_name(namespace: str, name: str) -> str:
    """A valid, stable object name for the release's Lease."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:10]
    return f"helmguard-{namespace[:20]}-{name[:20]}-{digest}".lower()


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
                live["spec"]["renewTime"] = _micro(datetime.now(UTC))
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


async def acquire(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    operation: str,
    lock_namespace: str = LOCK_NAMESPACE,
) -> ReleaseLock:
    """Take the release's Lease or raise ReleaseLocked naming who holds it and since when."""
    ref = ObjectRef("coordination.k8s.io", "Lease", lock_namespace, lease_name(namespace, name))
    holder = f"{socket.gethostname()}/{os.getpid()}/{operation}/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": ref.name,
            "namespace": lock_namespace,
            "annotations": {"helmguard.io/release": f"{namespace}/{name}"},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": _micro(now),
            "renewTime": _micro(now),
        },
    }
    try:
        await cluster.create(body)
    except KubeError as err:
        if err.code != 409:
            raise
        live = await cluster.get(ref, "coordination.k8s.io/v1")
        spec = (live or {}).get("spec") or {}
        renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
        duration = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
        if live is not None and renewed is not None and renewed + timedelta(seconds=duration) > now:
            raise ReleaseLocked(
                f"release {namespace}/{name} is locked: {spec.get('holderIdentity')} holds "
                f"Lease {lock_namespace}/{ref.name} since {spec.get('acquireTime')}; another "
                "deploy, rollback or uninstall of this release is running.",
                fix="Wait for it to finish and retry. If its process died, the Lease expires "
                f"{duration}s after its last renewal.",
            ) from None
        if live is None:
            await cluster.create(body)
        else:
            # The holder stopped renewing: take over with an optimistic-locked replace.
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
    lock._task = asyncio.create_task(lock._renew_forever())
    return lock
