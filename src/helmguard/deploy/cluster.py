"""The few API calls a deploy makes, by object key, over `helmguard.kube`.

Server-side apply, get, delete and list for any served kind, resolved through discovery
(refreshed once when a kind is not found: a CRD may have just been established). Every
failure leaves as a classified `KubeError`; transient ones are retried until `deadline`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from helmguard.kube.classifier import classify, retry
from helmguard.kube.client import Kube
from helmguard.kube.discovery import APIResource, ServedResources
from helmguard.kube.errors import Conflict, KubeError, MissingDependency
from helmguard.manifest import K8sObject, ObjectRef

# Helm's field manager (cmd/helm sets kube.ManagedFieldsManager = "helm"): a release's
# objects are co-managed by helm and helmguard, so neither conflicts over the other's
# fields and each removes what the other applied and the chart no longer has.
FIELD_MANAGER = "helm"
# Fields applied before helmguard shared Helm's field manager: taken over, never a conflict.
FORMER_FIELD_MANAGER = "helmguard"
# For a few tens of ms after a CRD is Established the API server answers its resource with
# 429 "storage is (re)initializing" and Retry-After: 1; looking again this often instead
# saves most of that second.
_STORAGE_POLL = 0.05


class Cluster:
    """A Kube connection seen as a store of objects keyed by ObjectRef."""

    def __init__(self, kube: Kube, *, deadline: float) -> None:
        self.kube = kube
        self.deadline = deadline  # time.monotonic() by which transient errors stop being retried

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    async def refresh_discovery(self) -> None:
        await retry(lambda: self.kube.discovery.resources(refresh=True), timeout=self.remaining())

    async def wait_storage(self, group: str, kind: str) -> None:
        """Return once the API server lists `kind` (its storage is initialized), or on any
        answer but 429: the calls that follow then meet that answer and report it."""
        try:
            res = await self.resource(group, kind)
        except MissingDependency:
            return
        while True:
            try:
                await self.kube.send_json("GET", res.url(""), params={"limit": "1"})
                return
            except Exception as exc:
                if classify(exc).code != 429 or self.remaining() <= _STORAGE_POLL:
                    return
            await asyncio.sleep(_STORAGE_POLL)

    async def resource(self, group: str, kind: str, api_version: str = "") -> APIResource:
        """The served resource for a kind (exact apiVersion when given); refreshes once."""
        for attempt in (0, 1):
            refresh = bool(attempt)

            async def load(refresh: bool = refresh) -> ServedResources:
                return await self.kube.discovery.resources(refresh=refresh)

            served = await retry(load, timeout=self.remaining())
            try:
                if api_version:
                    return served.lookup(api_version, kind)
                found = served.for_kind(group, kind)
                if found is not None:
                    return found
                raise MissingDependency(
                    f'no matches for kind "{kind}" in group "{group}": '
                    "the cluster does not serve it.",
                    fix="Install the CRD (or the operator that provides it) first.",
                )
            except MissingDependency:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        async def once() -> Any:
            return await self.kube.send_json(
                method, path, body, params=params, content_type=content_type
            )

        return await retry(once, timeout=self.remaining())

    async def get(self, ref: ObjectRef, api_version: str = "") -> dict[str, Any] | None:
        """The live object, or None when it does not exist (or its kind is not served)."""
        try:
            res = await self.resource(ref.group, ref.kind, api_version)
        except MissingDependency:
            return None
        try:
            return dict(await self._call("GET", res.url(ref.namespace, ref.name)))
        except KubeError as err:
            if err.code == 404:
                return None
            raise

    async def apply(
        self, body: Mapping[str, Any], *, force: bool, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply `body` as Helm's field manager; the object the server returned.

        With `dry_run` nothing is persisted: the answer is the object as it would become.
        """
        meta = body.get("metadata") or {}
        res = await self.resource("", str(body.get("kind")), str(body.get("apiVersion")))
        params = {"fieldManager": FIELD_MANAGER}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        path = res.url(str(meta.get("namespace") or ""), str(meta.get("name")))

        async def patch() -> dict[str, Any]:
            return dict(
                await self._call(
                    "PATCH", path, body, params=params, content_type="application/apply-patch+yaml"
                )
            )

        try:
            return await patch()
        except Conflict as err:
            if set(err.managers) != {FORMER_FIELD_MANAGER}:
                raise
            params["force"] = "true"
            return await patch()

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        res = await self.resource("", str(body.get("kind")), str(body.get("apiVersion")))
        return dict(await self._call("POST", res.url(str(meta.get("namespace") or "")), body))

    async def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        res = await self.resource("", str(body.get("kind")), str(body.get("apiVersion")))
        path = res.url(str(meta.get("namespace") or ""), str(meta.get("name")))
        return dict(await self._call("PUT", path, body))

    async def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        """Request deletion; False when it was already gone."""
        try:
            res = await self.resource(ref.group, ref.kind)
        except MissingDependency:
            return False
        try:
            await self._call(
                "DELETE",
                res.url(ref.namespace, ref.name),
                {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
        except KubeError as err:
            if err.code == 404:
                return False
            raise
        return True

    async def list(
        self,
        group: str,
        kind: str,
        namespace: str = "",
        *,
        label_selector: str = "",
    ) -> list[dict[str, Any]]:
        """Objects of a kind (in a namespace, if given); [] when the kind is not served."""
        try:
            res = await self.resource(group, kind)
        except MissingDependency:
            return []
        params = {"labelSelector": label_selector} if label_selector else None
        try:
            body = await self._call("GET", res.url(namespace), params=params)
        except KubeError as err:
            if err.code == 404:
                return []
            raise
        items = body.get("items") or []
        api_version = res.api_version
        # List items carry no apiVersion/kind; status rules and K8sObject need them.
        return [{"apiVersion": api_version, "kind": kind, **item} for item in items]

    async def existing(self, objects: Sequence[K8sObject]) -> dict[ObjectRef, Any]:
        """The live objects among `objects`: one list per (kind, namespace), not a GET each."""
        collections = sorted({(o.ref.group, o.kind, o.namespace) for o in objects})
        lists = await asyncio.gather(*(self.list(g, k, ns) for g, k, ns in collections))
        wanted = {o.ref for o in objects}
        found: dict[ObjectRef, Any] = {}
        for items in lists:
            for item in items:
                ref = K8sObject(item).ref
                if ref in wanted:
                    found[ref] = item
        return found
