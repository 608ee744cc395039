"""Served API resources: which kinds the cluster knows, their scope, plural and verbs.

`Discovery(fetch)` asks `/api` and `/apis` for aggregated discovery (apidiscovery.k8s.io/v2,
every group version's resources in two answers); a server without it answers with the
plain lists, and then every group version is fetched concurrently (one GET each). The
result is cached for the life of the connection (one run). `ServedResources`
answers the questions later stages ask: is this kind served (a CRD installed?), is it
namespaced, what is its plural (for RBAC and URLs), which verbs does it support.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmguard.kube.classifier import classify
from helmguard.kube.errors import KubeError, MissingDependency, Transient
from helmguard.manifest import ObjectRef, group_of

# Group versions fetched at once: enough to hide latency, few enough to not be throttled.
_CONCURRENCY = 16

Fetch = Callable[..., Awaitable[Any]]  # fetch(path, accept=...) -> decoded JSON

# Aggregated discovery if served, else (an older server) the plain lists.
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
_AGGREGATED_KIND = "APIGroupDiscoveryList"


@dataclass(frozen=True)
class APIResource:
    """One served resource in one group version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status", "scale")
    # The kinds those subresources answer with (Scale, Eviction, PodExecOptions, ...).
    subresource_kinds: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def url(self, namespace: str = "", name: str = "") -> str:
        """The REST path of the collection (in `namespace` when namespaced) or of one object.

        e.g. `/apis/apps/v1/deployments`, `/api/v1/namespaces/web/services/front`.
        """
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{name}" if name else ""
        return f"{root}{where}/{self.plural}{tail}"


@dataclass(frozen=True)
class ServedResources:
    """A snapshot of discovery. Lookups by (apiVersion, kind) or (group, kind)."""

    resources: tuple[APIResource, ...]
    preferred_versions: Mapping[str, str]  # group -> preferred version ("" is core: "v1")
    unavailable: Mapping[str, str] = field(default_factory=dict)  # group version -> error
    _by_gvk: dict[tuple[str, str], APIResource] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _by_gk: dict[tuple[str, str], list[APIResource]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _by_plural: dict[tuple[str, str], APIResource] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for res in self.resources:
            self._by_gvk[(res.api_version, res.kind)] = res
            self._by_gk.setdefault((res.group, res.kind), []).append(res)
            self._by_plural.setdefault((res.group, res.plural), res)
        for (group, _), versions in self._by_gk.items():
            preferred = self.preferred_versions.get(group)
            versions.sort(key=lambda r: r.version != preferred)

    def get(self, api_version: str, kind: str) -> APIResource | None:
        """The resource serving exactly `apiVersion` + `kind`, or None."""
        return self._by_gvk.get((api_version, kind))

    def lookup(self, api_version: str, kind: str) -> APIResource:
        """Like `get`, but raises `MissingDependency` ("no matches for kind") when not served.

        If the group's API is registered but unavailable right now (an aggregated API
        whose server is down), raises `Transient` instead: it may come back.
        """
        found = self.get(api_version, kind)
        if found is not None:
            return found
        group = group_of(api_version)
        down = [gv for gv in self.unavailable if group_of(gv) == group and group]
        if down:
            raise Transient(
                f"Cannot tell whether {kind} ({api_version}) is served: API {down[0]} is "
                f"unavailable ({self.unavailable[down[0]]}).",
                fix="Check the APIService and the server behind it (kubectl get apiservices).",
            )
        others = [r.api_version for r in self._by_gk.get((group, kind), ())]
        fix = (
            f"The cluster serves {kind} as {', '.join(others)}: use that apiVersion."
            if others
            else "Install the CRD (or the operator/chart that provides it) before this chart, "
            "or fix apiVersion/kind."
        )
        raise MissingDependency(
            f'no matches for kind "{kind}" in version "{api_version}": the cluster does not '
            "serve this API, so Kubernetes would reject the object.",
            fix=fix,
            dependency=ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", "")
            if group and "." in group and not others
            else None,
        )

    def for_kind(self, group: str, kind: str) -> APIResource | None:
        """The preferred served version of `group` + `kind`, or None if no version serves it."""
        found = self._by_gk.get((group, kind))
        return found[0] if found else None

    def serves(self, group: str, kind: str, version: str | None = None) -> bool:
        """Whether the kind is served (in `version`, if given): e.g. a CRD is installed."""
        if version is None:
            return (group, kind) in self._by_gk
        return self.get(f"{group}/{version}" if group else version, kind) is not None

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        """The kind's scope, or None when the kind is not served."""
        res = self.for_kind(group, kind)
        return None if res is None else res.namespaced

    def by_plural(self, group: str, plural: str) -> APIResource | None:
        """The resource named `plural` (as in RBAC rules and URLs) in `group`."""
        return self._by_plural.get((group, plural))


class Discovery:
    """Loads and caches `ServedResources` through `fetch(path) -> decoded JSON`."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._cached: ServedResources | None = None
        self._lock = asyncio.Lock()

    async def resources(self, *, refresh: bool = False) -> ServedResources:
        """Served resources, fetched once per run (again with `refresh`).

        Raises the classified `KubeError` if `/api` or `/apis` cannot be read; a single
        group version that fails (an aggregated API down) is recorded in `unavailable`.
        """
        async with self._lock:
            if self._cached is None or refresh:
                self._cached = await self._load()
            return self._cached

    async def _load(self, *, aggregated: bool = True) -> ServedResources:
        accept = AGGREGATED if aggregated else ""
        try:
            core, groups = await asyncio.gather(
                self._fetch("/api", accept=accept), self._fetch("/apis", accept=accept)
            )
        except Exception as exc:
            raise classify(exc) from exc
        if core.get("kind") == _AGGREGATED_KIND and groups.get("kind") == _AGGREGATED_KIND:
            return parse_aggregated([core, groups])
        group_versions = [str(v) for v in core.get("versions") or ()]
        paths = [f"/api/{v}" for v in group_versions]
        preferred: dict[str, str] = {"": "v1"}
        gv_names = list(group_versions)
        for group in groups.get("groups") or ():
            preferred[group["name"]] = (group.get("preferredVersion") or {}).get("version", "")
            for version in group.get("versions") or ():
                gv_names.append(version["groupVersion"])
                paths.append(f"/apis/{version['groupVersion']}")
        semaphore = asyncio.Semaphore(_CONCURRENCY)

        async def one(path: str) -> Any:
            async with semaphore:
                return await self._fetch(path)

        results = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)
        resources: list[APIResource] = []
        unavailable: dict[str, str] = {}
        for gv, result in zip(gv_names, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                err: KubeError = classify(result)
                unavailable[gv] = err.message
                continue
            resources.extend(parse_resource_list(result))
        return ServedResources(tuple(resources), preferred, unavailable)


def parse_aggregated(lists: Iterable[Mapping[str, Any]]) -> ServedResources:
    """ServedResources from APIGroupDiscoveryLists (`/api` and `/apis`, aggregated).

    Versions come in preference order. A version whose discovery is Stale (an aggregated
    API server that did not answer) is unavailable, as a failed GET of it would be.
    """
    resources: list[APIResource] = []
    preferred: dict[str, str] = {"": "v1"}
    unavailable: dict[str, str] = {}
    for body in lists:
        for item in body.get("items") or ():
            group = str((item.get("metadata") or {}).get("name") or "")
            versions = item.get("versions") or ()
            if versions:
                preferred[group] = str(versions[0].get("version") or "")
            for entry in versions:
                version = str(entry.get("version") or "")
                if entry.get("freshness") == "Stale":
                    gv = f"{group}/{version}" if group else version
                    unavailable[gv] = (
                        "its discovery is stale: the API server behind it did not answer"
                    )
                    continue
                for res in entry.get("resources") or ():
                    resources.append(
                        APIResource(
                            group=group,
                            version=version,
                            kind=str((res.get("responseKind") or {}).get("kind") or ""),
                            plural=str(res.get("resource") or ""),
                            namespaced=res.get("scope") == "Namespaced",
                            verbs=frozenset(res.get("verbs") or ()),
                            singular=str(res.get("singularResource") or ""),
                            short_names=tuple(res.get("shortNames") or ()),
                            subresources=tuple(
                                str(sub.get("subresource") or "")
                                for sub in res.get("subresources") or ()
                            ),
                            subresource_kinds=tuple(
                                str((sub.get("responseKind") or {}).get("kind") or "")
                                for sub in res.get("subresources") or ()
                                if (sub.get("responseKind") or {}).get("kind")
                            ),
                        )
                    )
    return ServedResources(tuple(resources), preferred, unavailable)


def parse_resource_list(body: Mapping[str, Any]) -> Iterable[APIResource]:
    """The resources of one APIResourceList, subresources folded into their parent."""
    group_version = str(body.get("groupVersion") or "")
    group, _, version = group_version.rpartition("/")
    entries = body.get("resources") or ()
    subresources: dict[str, list[str]] = {}
    sub_kinds: dict[str, list[str]] = {}
    for entry in entries:
        parent, slash, sub = str(entry.get("name", "")).partition("/")
        if slash:
            subresources.setdefault(parent, []).append(sub)
            if entry.get("kind"):
                sub_kinds.setdefault(parent, []).append(str(entry["kind"]))
    for entry in entries:
        name = str(entry.get("name", ""))
        if "/" in name:
            continue
        yield APIResource(
            group=str(entry.get("group") or group),
            version=str(entry.get("version") or version),
            kind=str(entry.get("kind", "")),
            plural=name,
            namespaced=bool(entry.get("namespaced")),
            verbs=frozenset(entry.get("verbs") or ()),
            singular=str(entry.get("singularName") or ""),
            short_names=tuple(entry.get("shortNames") or ()),
            subresources=tuple(subresources.get(name, ())),
            subresource_kinds=tuple(sub_kinds.get(name, ())),
        )
