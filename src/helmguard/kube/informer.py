"""An informer: list, then watch from the list's resourceVersion, for one resource in one scope.

One file past 400 lines: the list/watch loop, its resume after expiry, bookmarks and the
cache are one state machine.

`Informer(kube, resource, handler, namespace=...)` keeps `cache` (plain object dicts by
"namespace/name") equal to the cluster and calls `await handler(type, obj)` for every
change, type being ADDED, MODIFIED or DELETED. The loop follows kopf's watcher:

- a paginated list (`limit`/`continue`), diffed against the cache, so a re-list turns
  objects deleted while nobody watched into DELETED notifications;
- a watch from the list's resourceVersion with `allowWatchBookmarks=true`; bookmarks move
  the resourceVersion forward without an object;
- 410 Gone ("too old resource version", as a status code or a watch ERROR event): re-list;
- an inactivity timeout: no event nor bookmark for `inactivity_timeout` seconds may mean a
  silent server (stopped, partitioned), so the watch is dropped and the informer re-lists;
  connectivity turns down only if that list fails (a quiet resource is not a disconnection);
- any other failure is classified (`helmguard.kube.classifier.classify`), reported as
  connectivity down with its reason, and retried after jittered exponential backoff.
  After a failure the informer re-lists instead of resuming: the list is the truth now,
  and nothing is computed from a cache that is older than what the server says;
- a normal end of a watch (the server's timeoutSeconds) resumes from the last
  resourceVersion without re-listing and without reporting a disconnection.

`connectivity` says whether the informer currently reflects the cluster (up/down, since
when, why); `on_connectivity` is awaited on every change, so callers can mark what
depends on it Unknown while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.kube.discovery import APIResource
from helmguard.kube.errors import ApiError, KubeError, Transient, Unclassified

log = logging.getLogger(__name__)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

Body = dict[str, Any]
Handler = Callable[[str, Body], Awaitable[None]]
Transform = Callable[[Body], Body]

# kubectl's client-side apply copies the whole object into this annotation, Secret data too.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class Connectivity:
    """Whether an informer reflects the cluster right now, since when, and why not."""

    up: bool
    since: datetime
    reason: str


@dataclass
class InformerStats:
    """Counters for tests, benchmarks and `-v` output."""

    lists: int = 0
    expired: int = 0  # 410 Gone answers that forced a re-list
    watches: int = 0
    events: int = 0
    bookmarks: int = 0
    inactivity_restarts: int = 0
    errors: int = 0


class WatchExpired(Exception):
    """The server no longer has history back to the watch's resourceVersion (410 Gone)."""


class WatchSilent(Exception):
    """No event nor bookmark for the inactivity timeout: a quiet watch, or a silent server."""


def object_key(body: Mapping[str, Any]) -> str:
    """The cache key of an object: "namespace/name" ("/name" when cluster-scoped)."""
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def slim(body: Body) -> Body:
    """Drop managedFields: nothing reads them and they are often half an object's size."""
    meta = body.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        body = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return body


def without_contents(body: Body) -> Body:
    """A Secret or ConfigMap reduced to metadata and the names of its keys.

    Secret values must never be kept (nor reach the database); the key names are what a
    reference with `key:` needs. ConfigMaps get the same treatment to save memory.
    """
    out = {k: v for k, v in slim(body).items() if k not in ("data", "stringData", "binaryData")}
    for field in ("data", "stringData", "binaryData"):
        contents = body.get(field)
        if isinstance(contents, Mapping):
            out[field] = dict.fromkeys(contents, "")
    meta = out.get("metadata")
    if isinstance(meta, dict) and _LAST_APPLIED in (meta.get("annotations") or {}):
        annotations = {k: v for k, v in meta["annotations"].items() if k != _LAST_APPLIED}
        out["metadata"] = {**meta, "annotations": annotations}
    return out


def _now() -> datetime:
    return datetime.now(UTC)


class Informer:
    """List+watch of one resource in one namespace (or all namespaces when None).

    `start()` runs the loop as a task; `stop()` cancels it and waits. `synced` is set
    once the first list has been delivered. `resource_version` and `cache` may be given
    to resume a previous informer's state: the first watch starts there, and a 410 Gone
    re-lists and diffs against that cache.
    """

    def __init__(
        self,
        kube: Kube,
        resource: APIResource,
        handler: Handler,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_connectivity: Callable[[Connectivity], Awaitable[None]] | None = None,
        transform: Transform = slim,
        page_size: int = 500,
        inactivity_timeout: float = 90.0,
        watch_timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        resource_version: str | None = None,
        cache: Mapping[str, Body] | None = None,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.cache: dict[str, Body] = dict(cache or {})
        self.resource_version = resource_version
        self.connectivity = Connectivity(False, _now(), "not listed yet")
        self.synced = asyncio.Event()
        self.answered = asyncio.Event()  # the first list (or watch) succeeded or failed
        self.stats = InformerStats()
        self._handler = handler
        self._on_connectivity = on_connectivity
        self._transform = transform
        self._task: asyncio.Task[None] | None = None
        self._relist = resource_version is None
        self.watching = False  # a watch stream is open: the cache follows every change

    @property
    def path(self) -> str:
        """The collection URL path of this informer's scope."""
        return self.resource.url(self.namespace or "")

    @property
    def metric_label(self) -> str:
        """How metrics name the resource, e.g. `apps/v1/deployments`."""
        return f"{self.resource.api_version}/{self.resource.plural}"

    def __repr__(self) -> str:
        return f"Informer({self.describe()})"

    def describe(self) -> str:
        """E.g. `deployments.apps in namespace "shop"`."""
        res = self.resource
        what = f"{res.plural}.{res.group}" if res.group else res.plural
        return f'{what} in namespace "{self.namespace}"' if self.namespace else what

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run the loop in a task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self.describe()}")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end; the cache is kept as it was."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """The informer loop; returns only when cancelled."""
        attempt = 0
        while True:
            try:
                if self._relist:
                    await self._list()
                    self._relist = False
                await self._watch()
                attempt = 0
            except WatchExpired as exc:
                self.stats.expired += 1
                log.info("%s: %s; re-listing", self.describe(), exc)
                self._relist = True
            except WatchSilent as exc:
                # Not a failure yet: the re-list (a request with timeouts) says whether the
                # server answers; only its failure turns the connectivity down.
                log.info("%s: %s; re-listing", self.describe(), exc)
                self._relist = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = classify(exc)
                self.stats.errors += 1
                attempt += 1
                self._relist = True
                self.answered.set()
                await self._set(False, f"{type(err).__name__}: {err}")
                delay = err.retry_after or self._backoff(attempt)
                log.warning("%s: %s; retrying in %.1fs", self.describe(), err, delay)
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        # Jittered between half and all of the exponential step, so reconnects spread out.
        step = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(step / 2, step)

    async def _set(self, up: bool, reason: str) -> None:
        if self.connectivity.up == up and (up or self.connectivity.reason == reason):
            return
        if not up and not self.connectivity.up:
            # Still down: keep the original since, update why.
            self.connectivity = Connectivity(False, self.connectivity.since, reason)
            return
        self.connectivity = Connectivity(up, _now(), reason)
        if self._on_connectivity is not None:
            await self._on_connectivity(self.connectivity)

    async def _emit(self, kind: str, body: Body) -> None:
        self.stats.events += 1
        try:
            await self._handler(kind, body)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A handler bug must not stop the watch (and the statuses of everything else).
            log.exception("%s: handler failed on %s %s", self.describe(), kind, object_key(body))

    # ---- list ---------------------------------------------------------------------------

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        return params

    async def _list(self) -> None:
        res = self.resource
        while True:
            items: dict[str, Body] = {}
            token = ""
            version = ""
            try:
                while True:
                    params = {**self._params(), "limit": str(self.page_size)}
                    if token:
                        params["continue"] = token
                    body = await self.kube.get_json(self.path, params)
                    for item in body.get("items") or ():
                        # List items carry no apiVersion/kind; a watch's objects do.
                        obj = self._transform(
                            {"apiVersion": res.api_version, "kind": res.kind, **item}
                        )
                        items[object_key(obj)] = obj
                    meta = body.get("metadata") or {}
                    version = str(meta.get("resourceVersion") or "")
                    token = str(meta.get("continue") or "")
                    if not token:
                        break
            except ApiError as exc:
                if exc.code == 410:
                    continue  # the continue token expired mid-list: start the list over
                raise
            break
        self.stats.lists += 1
        previous, self.cache = self.cache, items
        self.resource_version = version
        await self._set(True, "listed")
        for key, obj in items.items():
            old = previous.get(key)
            if old is None:
                await self._emit(ADDED, obj)
            elif _version(old) != _version(obj):
                await self._emit(MODIFIED, obj)
        for key, old in previous.items():
            if key not in items:
                await self._emit(DELETED, old)
        self.synced.set()
        self.answered.set()

    # ---- watch --------------------------------------------------------------------------

    async def _watch(self) -> None:
        params = {
            **self._params(),
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version or "",
            # Spread reconnects of many informers instead of having them all end at once. The
            # server sends a bookmark just before it ends a watch: a watch that ends before
            # the inactivity timeout keeps a quiet resource from looking like a silent server.
            "timeoutSeconds": str(int(self.watch_timeout * random.uniform(1.0, 1.2))),
        }
        try:
            async with self.kube.stream(self.path, params) as response:
                self.stats.watches += 1
                if self.stats.watches > 1:
                    # prometheus_client is imported by the first reconnect (serve's sync has
                    # it already): a CLI deploy's wait, which /metrics never reads, skips it.
                    from helmguard import metrics

                    metrics.WATCH_RECONNECTS.labels(resource=self.metric_label).inc()
                self.watching = True
                await self._set(True, "watching")
                self.synced.set()
                self.answered.set()
                # Lines split here from the bytes as they come: one event is one line, and
                # httpx's text and line layers cost more per event than the rest of the sync.
                chunks = response.aiter_bytes()
                partial = b""
                while True:
                    try:
                        async with asyncio.timeout(self.inactivity_timeout):
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return  # the server ended the watch (timeoutSeconds): resume
                    except TimeoutError:
                        self.stats.inactivity_restarts += 1
                        raise WatchSilent(
                            f"watch received no event nor bookmark for {self.inactivity_timeout:g}s"
                        ) from None
                    *lines, partial = (partial + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            await self._line(line)
        except ApiError as exc:
            if exc.code == 410:
                raise WatchExpired(exc.message or "410 Gone") from None
            raise
        finally:
            self.watching = False

    async def _line(self, line: bytes) -> None:
        event = json.loads(line)
        kind = event.get("type")
        body = event.get("object") or {}
        if kind == "ERROR":
            raise _watch_error(body)
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
            if version:
                self.resource_version = version
            return
        obj = self._transform(body)
        key = object_key(obj)
        if kind == DELETED:
            self.cache.pop(key, None)
        elif kind in (ADDED, MODIFIED):
            self.cache[key] = obj
        else:
            log.warning("%s: unknown watch event type %r", self.describe(), kind)
            return
        if version:
            self.resource_version = version
        await self._emit(str(kind), obj)


def _version(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")


def _watch_error(status: Mapping[str, Any]) -> Exception:
    """The exception for a watch ERROR event (its object is a metav1.Status)."""
    code = status.get("code")
    message = str(status.get("message") or status.get("reason") or "watch error")
    if code == 410:
        return WatchExpired(message)
    error: KubeError
    if (isinstance(code, int) and code >= 500) or status.get("reason") in (
        "Timeout",
        "InternalError",
    ):
        error = Transient(f"the watch failed: {message}", status=status, code=code or 0)
    else:
        error = Unclassified(f"the watch failed: {message}", status=status, code=code or 0)
    return error
