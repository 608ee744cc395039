"""Clusters discovered from labelled Secrets, as Argo CD's declarative cluster Secrets.

`serve --cluster-secrets-namespace NS` (default: the pod's namespace in-cluster) watches the
Secrets labelled `helmguard.io/cluster: "true"` in NS of the cluster serve runs in. Each is a
cluster: named by the Secret's `name` key (as Argo CD's), else by the Secret's own name (a
DNS-1123 label either way), its connection in the keys `cluster add --secret` reads
(kube/secretconfig.py). A Secret labelled while serve runs is synced at once (`start`, a
`SecretCluster` that follows it); one deleted, or its label removed (the watch says DELETED),
stops that sync (`stop`) and stores the cluster's releases Unknown naming the Secret; a
changed `name` is the old cluster stopped and the new one started. A name that is no label,
or taken by another cluster serve syncs, is refused, said once, and tried again when the
Secret changes. Nothing of it is stored but what the syncs store.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from helmguard.kube.client import Kube
from helmguard.kube.informer import DELETED, Body, Connectivity, Informer, without_contents
from helmguard.store import Store, StoreError
from helmguard.store.records import cluster_name_problem
from helmguard.sync.secret_cluster import SECRETS
from helmguard.sync.supervisor import mark_unreachable_once

log = logging.getLogger(__name__)

LABEL = "helmguard.io/cluster"
SELECTOR = f"{LABEL}=true"
NAME_KEY = "name"


def discovered_name(secret: Mapping[str, Any]) -> tuple[str, str]:
    """(cluster name, "") the labelled Secret `secret` names, or ("", the problem)."""
    meta = secret.get("metadata") or {}
    ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    raw = (secret.get("data") or {}).get(NAME_KEY)
    if raw is None:
        name = str(meta.get("name", ""))
    else:
        try:
            name = base64.b64decode(str(raw), validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            return "", f"Secret {ref} key {NAME_KEY!r} is not base64 UTF-8 text"
    problem = cluster_name_problem(name)
    if problem is not None:
        where = f"key {NAME_KEY!r}" if raw is not None else "name"
        return "", f"Secret {ref} {where} cannot name a cluster: {problem}"
    return name, ""


async def find_discovered(kube: Kube, namespace: str, name: str) -> Body | None:
    """The labelled Secret in `namespace` that names cluster `name` (None when none does):
    the first in the list, as serve starts the first one it sees."""
    listed = await kube.get_json(
        f"/api/v1/namespaces/{namespace}/secrets", {"labelSelector": SELECTOR}
    )
    for item in listed.get("items") or []:
        if discovered_name(item)[0] == name:
            return dict(item)
    return None


def _naming_only(body: Body) -> Body:
    """What discovery keeps of a Secret: its metadata and `name` key (no credentials)."""
    kept = without_contents(body)
    raw = (body.get("data") or {}).get(NAME_KEY)
    return kept if raw is None else {**kept, "data": {NAME_KEY: raw}}


class SecretDiscovery:
    """Starts and stops one sync per labelled Secret of `namespace`, until cancelled.

    `start(name, ref)` starts cluster `name` from Secret `ref` (NAMESPACE/NAME); it returns
    the problem ("" when started), e.g. the name is taken. `stop(name)` stops it.
    """

    def __init__(
        self,
        home: Callable[[], Awaitable[Kube]],
        namespace: str,
        start: Callable[[str, str], str],
        stop: Callable[[str], Awaitable[None]],
        *,
        store: Store,
        announce: Callable[[str], None] = log.warning,
    ) -> None:
        self.namespace = namespace
        self._home = home
        self._start = start
        self._stop = stop
        self.store = store
        self._announce = announce
        self.running: dict[str, str] = {}  # Secret ref -> the cluster it runs as
        self._refused: dict[str, str] = {}  # Secret ref -> the problem said

    async def run(self) -> None:
        kube = await self._home()
        informer = Informer(
            kube,
            SECRETS,
            self._changed,
            namespace=self.namespace,
            label_selector=SELECTOR,
            on_connectivity=self._connectivity,
            transform=_naming_only,
        )
        try:
            await informer.run()
        finally:
            for ref in list(self.running):
                await self._stop(self.running.pop(ref))
            await kube.aclose()

    async def _connectivity(self, connectivity: Connectivity) -> None:
        if not connectivity.up:
            self._announce(
                f"serve: cluster Secrets ({SELECTOR}) in namespace {self.namespace} cannot be "
                f"listed: {connectivity.reason}; the clusters found so far go on"
            )

    async def _changed(self, kind: str, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        ref = f"{meta.get('namespace', self.namespace)}/{meta.get('name', '')}"
        was = self.running.get(ref)
        if kind == DELETED:
            self._refused.pop(ref, None)
            if was is not None:
                why = f"Secret {ref} was deleted, or lost its label {SELECTOR}"
                await self._gone(ref, was, why)
            return
        name, problem = discovered_name(body)
        if was is not None and was == name:
            return  # the runner follows the Secret's connection itself
        if was is not None:
            await self._gone(ref, was, f"Secret {ref} names another cluster now")
        if not problem:
            problem = self._start(name, ref)
        if problem:
            if self._refused.get(ref) != problem:
                self._announce(f"serve: cluster Secret {ref} is not synced: {problem}")
            self._refused[ref] = problem
            return
        self._refused.pop(ref, None)
        self.running[ref] = name

    async def _gone(self, ref: str, name: str, why: str) -> None:
        """Stop cluster `name`'s sync and store its releases Unknown, saying `why`."""
        del self.running[ref]
        await self._stop(name)
        since = datetime.now(UTC)
        message = (
            f"cluster {name} (Secret {ref}) cannot be reached since "
            f"{since.isoformat(timespec='seconds')}: {why} in the cluster serve runs in"
        )
        self._announce(f"serve: {message}; its sync stopped, its releases are stored Unknown")
        try:
            await mark_unreachable_once(self.store, name, message, since)
        except StoreError as exc:
            log.warning("cluster %s: storing its releases Unknown failed: %s", name, exc)
