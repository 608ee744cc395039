"""Live resolution: look up, in one batch per (kind, namespace), what the chart's references need.

`lookup(kube, targets, ...)` lists each (group, kind, namespace) once, metadata only
(PartialObjectMetadataList), never one GET per reference, and returns a `ClusterView`
whose `existing` plugs into `ChartResolver`. The view also knows the namespaces (and
which are Terminating) and the StorageClasses (and which is the default), for
`cluster_findings`, the checks that need the cluster's state rather than a reference.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from helmguard.graph.refs import CRD_GROUP, crd_index
from helmguard.kube.classifier import retry
from helmguard.kube.discovery import ServedResources
from helmguard.kube.errors import KubeError, PermissionDenied
from helmguard.kube.kinds import BUILTIN_GROUPS
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.findings import Finding, Severity
from helmguard.preflight.metrics import metrics_findings

if TYPE_CHECKING:
    from helmguard.kube.client import Kube

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
# Lists sent at once: enough to hide latency, few enough not to be throttled.
_CONCURRENCY = 16
_PAGE = "500"

Batch = tuple[str, str, str]  # (group, kind, namespace) listed in one request


@dataclass(frozen=True)
class ClusterView:
    """What the cluster holds, as far as the chart's references and checks need to know."""

    present: frozenset[ObjectRef]
    listed: frozenset[Batch]  # batches listed successfully: absence there is certain
    unverified: Mapping[Batch, str] = field(default_factory=dict)  # batch -> why not
    namespaces: Mapping[str, bool] = field(default_factory=dict)  # name -> Terminating
    storage_classes: Mapping[str, bool] = field(default_factory=dict)  # name -> default
    served: ServedResources | None = None
    list_requests: int = 0  # list calls sent (pages included)

    def existing(self, ref: ObjectRef) -> bool | None:
        """True/False when the cluster was asked (or cannot hold it); None when it cannot tell."""
        if ref.kind == "Namespace" and not ref.group:
            return ref.name in self.namespaces
        if ref.kind == "CustomResourceDefinition" and ref.group == CRD_GROUP:
            return self._crd_served(ref.name)
        if ref in self.present:
            return True
        batch = (ref.group, ref.kind, ref.namespace)
        if batch in self.listed:
            return False
        if batch in self.unverified:
            return None
        if ref.namespace and ref.namespace not in self.namespaces and self.namespaces:
            return False  # nothing exists in a namespace that does not exist
        if self.served is not None and self.served.for_kind(ref.group, ref.kind) is None:
            down = any(gv.startswith(f"{ref.group}/") for gv in self.served.unavailable)
            return None if down else False
        return None

    def _crd_served(self, name: str) -> bool | None:
        """A CRD named `plural.group` counts as present when discovery serves the plural."""
        if self.served is None:
            return None
        plural, _, group = name.partition(".")
        if self.served.by_plural(group, plural) is not None:
            return True
        down = any(gv.startswith(f"{group}/") for gv in self.served.unavailable)
        return None if down else False

    def terminating(self, namespace: str) -> bool:
        return self.namespaces.get(namespace, False)

    def default_storage_class(self) -> str | None:
        return next((name for name, default in self.storage_classes.items() if default), None)


def _is_default(meta: Mapping[str, Any]) -> bool:
    annotations = meta.get("annotations") or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


async def _list_names(
    kube: Kube, path: str, names: Sequence[str], deadline: float
) -> tuple[list[dict[str, Any]], int]:
    """Metadata of the objects at a collection path (every page), and the requests it took."""
    params: dict[str, str] = {"limit": _PAGE}
    if len(names) == 1:
        # One name: let the server filter, the answer stays tiny whatever the namespace holds.
        params["fieldSelector"] = f"metadata.name={names[0]}"
    items: list[dict[str, Any]] = []
    requests = 0
    while True:
        page_params = dict(params)

        async def once(p: dict[str, str] = page_params) -> Any:
            return await kube.get_json(path, p, accept=METADATA_LIST)

        requests += 1
        body = await retry(once, timeout=_remaining(deadline))
        items.extend(dict(i.get("metadata") or {}) for i in body.get("items") or ())
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items, requests
        params["continue"] = str(token)


def _remaining(deadline: float) -> float:
    loop = asyncio.get_running_loop()
    return max(deadline - loop.time(), 0.001)


async def lookup(
    kube: Kube,
    targets: Iterable[ObjectRef],
    *,
    served: ServedResources,
    storage: bool = False,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for retries across all lists
) -> ClusterView:
    """List, in batches, whatever `targets` name; also the namespaces and (with `storage`)
    the StorageClasses. One list per (group, kind, namespace), metadata only, concurrent.

    A batch the identity may not list is recorded in `unverified` (its references stay
    unresolved, never guessed); other failures raise the classified `KubeError` once
    retries of transient errors run out.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    wanted: dict[Batch, set[str]] = defaultdict(set)
    for ref in targets:
        if ref.kind == "Namespace" and not ref.group:
            continue
        if ref.kind == "CustomResourceDefinition" and ref.group == CRD_GROUP:
            continue  # answered by discovery
        wanted[(ref.group, ref.kind, ref.namespace)].add(ref.name)
    namespaces_batch: Batch = ("", "Namespace", "")
    class_batch: Batch = ("storage.k8s.io", "StorageClass", "")
    if storage:
        # Every class, not only those named: which one is the default matters too.
        wanted[class_batch] = set()
    semaphore = asyncio.Semaphore(_CONCURRENCY)
    results: dict[Batch, list[dict[str, Any]]] = {}
    unverified: dict[Batch, str] = {}
    requests = 0

    async def one(batch: Batch, names: Sequence[str], path: str) -> None:
        nonlocal requests
        async with semaphore:
            try:
                items, sent = await _list_names(kube, path, names, deadline)
            except KubeError as err:
                requests += 1
                if isinstance(err, PermissionDenied) or err.code in (401, 403):
                    unverified[batch] = err.message
                    return
                raise
            requests += sent
            results[batch] = items

    # Namespaces first: a batch in a namespace that does not exist needs no request.
    await one(namespaces_batch, [], "/api/v1/namespaces")
    namespaces: dict[str, bool] = {
        str(m.get("name")): bool(m.get("deletionTimestamp"))
        for m in results.get(namespaces_batch, ())
    }
    if namespaces_batch in unverified:
        namespaces = {}
    jobs = []
    for batch, names in wanted.items():
        group, kind, ns = batch
        res = served.for_kind(group, kind)
        if res is None:
            continue  # not served: `existing` answers from discovery
        if res.namespaced and namespaces and ns not in namespaces:
            continue
        jobs.append(one(batch, sorted(names), res.url(ns)))
    await asyncio.gather(*jobs)
    present = {
        ObjectRef(group, kind, ns, str(m["name"]))
        for (group, kind, ns), items in results.items()
        if (group, kind, ns) != namespaces_batch
        for m in items
    }
    classes = {str(m.get("name")): _is_default(m) for m in results.get(class_batch, ())}
    return ClusterView(
        present=frozenset(present),
        listed=frozenset(b for b in results if b != namespaces_batch),
        unverified=unverified,
        namespaces=namespaces,
        storage_classes=classes,
        served=served,
        list_requests=requests,
    )


# --- findings that need the cluster's state -----------------------------------------------


def _claims_without_class(obj: K8sObject) -> list[str]:
    """Field paths of claims in `obj` that set no storageClassName (the default class applies)."""
    paths = []
    if obj.kind == "PersistentVolumeClaim" and not obj.ref.group:
        spec = obj.spec
        if "storageClassName" not in spec and not spec.get("volumeName"):
            paths.append("spec.storageClassName")
    elif obj.kind == "StatefulSet" and obj.ref.group == "apps":
        for i, vct in enumerate(obj.spec.get("volumeClaimTemplates") or ()):
            spec = (vct or {}).get("spec") or {}
            if isinstance(spec, dict) and "storageClassName" not in spec:
                paths.append(f"spec.volumeClaimTemplates[{i}].spec.storageClassName")
    return paths


def needs_storage_classes(objects: Iterable[K8sObject]) -> bool:
    """Whether any object claims storage (then the StorageClasses are worth one list)."""
    return any(
        o.kind == "PersistentVolumeClaim" or (o.kind == "StatefulSet" and o.ref.group == "apps")
        for o in objects
    )


def cluster_findings(
    objects: Sequence[K8sObject],
    view: ClusterView,
    *,
    release_namespace: str,
    created_namespaces: Iterable[str],
    create_namespace: bool = False,
) -> list[Finding]:
    """Namespaces missing or Terminating, claims left without a StorageClass, HPAs whose
    metrics API is not served, lookups refused, and custom resources whose kind the cluster
    does not serve."""
    out: list[Finding] = []
    created = set(created_namespaces)
    by_namespace: dict[str, K8sObject] = {}
    for obj in objects:
        if obj.namespace:
            by_namespace.setdefault(obj.namespace, obj)
    if (
        view.namespaces
        and release_namespace not in view.namespaces
        and release_namespace not in created
        and not create_namespace
    ):
        first = by_namespace.get(release_namespace)
        subject = first.ref if first else ObjectRef("", "Namespace", "", release_namespace)
        out.append(
            Finding.make(
                "HG117",
                Severity.ERROR,
                subject,
                "metadata.namespace",
                f"the release namespace {release_namespace} does not exist in the cluster and "
                "the chart does not create it",
                f'rejected: namespaces "{release_namespace}" not found',
                f"create namespace {release_namespace} first, or deploy with --create-namespace",
                source=first.source if first else "",
                target=ObjectRef("", "Namespace", "", release_namespace),
            )
        )
    for ns in sorted({*by_namespace, release_namespace}):
        if not view.terminating(ns):
            continue
        first = by_namespace.get(ns)
        subject = first.ref if first else ObjectRef("", "Namespace", "", ns)
        out.append(
            Finding.make(
                "HG200",
                Severity.ERROR,
                subject,
                "metadata.namespace",
                f"namespace {ns} is being deleted (Terminating); nothing can be created in it",
                f"forbidden: unable to create new content in namespace {ns} because it is "
                "being terminated",
                f"wait until namespace {ns} is gone (check the finalizers that hold it), "
                "then deploy again, or deploy to another namespace",
                source=first.source if first else "",
                target=ObjectRef("", "Namespace", "", ns),
            )
        )
    if ("storage.k8s.io", "StorageClass", "") in view.listed:
        default = view.default_storage_class()
        for obj in objects:
            if default is not None:
                break
            for path in _claims_without_class(obj):
                classes = ", ".join(sorted(view.storage_classes)) or "none"
                out.append(
                    Finding.make(
                        "HG202",
                        Severity.WARNING,
                        obj.ref,
                        path,
                        "the claim sets no storageClassName and the cluster has no default "
                        f"StorageClass (classes: {classes}); it will stay Pending",
                        "PersistentVolumeClaim stays Pending: FailedBinding: no persistent "
                        "volumes available for this claim and no storage class is set",
                        "set storageClassName to an existing class, or mark one StorageClass "
                        'default (storageclass.kubernetes.io/is-default-class: "true")',
                        source=obj.source,
                    )
                )
    if view.served is not None:
        out.extend(metrics_findings(objects, view.served))
    for (group, kind, ns), why in sorted(view.unverified.items()):
        where = f" in namespace {ns}" if ns else ""
        out.append(
            Finding.make(
                "HG201",
                Severity.WARNING,
                ObjectRef(group, kind, ns, ""),
                "",
                f"could not look up {kind} objects{where} the chart refers to: {why}",
                "unknown: the references are left unverified",
                "run the check with an identity that may list them, or verify by hand",
            )
        )
    return out


def unserved_kinds(
    objects: Iterable[K8sObject], crds: Iterable[K8sObject], served: ServedResources
) -> dict[ObjectRef, str]:
    """Objects whose kind the cluster does not serve -> the chart CRD defining it ("" if none)."""
    everything = list(objects)
    index = crd_index([*crds, *everything])
    out: dict[ObjectRef, str] = {}
    for obj in everything:
        group = obj.ref.group
        if group in BUILTIN_GROUPS and served.for_kind(group, obj.kind) is not None:
            continue
        if served.get(obj.api_version, obj.kind) is not None:
            continue
        crd = index.get((group, obj.kind))
        out[obj.ref] = crd.name if crd is not None else ""
    return out
