"""What an upgrade or a rollback would change, object by object, against the live objects.

Like the helm-diff plugin with its server-side mode: every object the revision would
apply is sent as a server-side apply dry run (Helm's field manager, the release's
ownership annotations), and the object the API server answers is compared with the live
one as YAML; objects of the current revision the new one no longer has are "removed",
objects that do not exist yet "added". Nothing is written. Secret values never leave this
module: each key of `data`/`stringData` is shown as helm-diff shows it, its size and
whether it changes (`REDACTED`, `--------`, `++++++++`). Fields that change on every
write (resourceVersion, managedFields, helmguard's revision annotation) and `status`
are not compared. Hooks and CRDs are not diffed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import difflib
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from helmguard.chart.render import RenderRequest
from helmguard.deploy.cluster import Cluster
from helmguard.deploy.config import Configuration, DeployOptions, configuration
from helmguard.deploy.history import NoSuchRevision, read_history, rollback_target
from helmguard.deploy.release import (
    REVISION_ANNOTATION,
    RevisionManifest,
    owner_of,
    record_kind,
    release_id,
    stamp,
)
from helmguard.deploy.values import current_release, upgrade_values
from helmguard.kube.classifier import retry
from helmguard.kube.client import Kube
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.report import Report

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
CHANGES = (ADDED, CHANGED, REMOVED)
_VOLATILE_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
)
# kubectl's client-side apply copies the whole object (Secret data too) into it.
_VOLATILE_ANNOTATIONS = (REVISION_ANNOTATION, "kubectl.kubernetes.io/last-applied-configuration")


class DiffInputError(ValueError):
    """The release or revision to diff against does not exist (bad input, exit 2)."""


@dataclass(frozen=True)
class ObjectChange:
    """One object that would change: added, removed or changed, with its unified diff."""

    ref: ObjectRef
    api_version: str
    change: str
    diff: str  # unified diff of the YAML, Secret values masked

    @property
    def header(self) -> str:
        """helm-diff's header line: `namespace, name, Kind (apiVersion) has been added:`."""
        verb = {ADDED: "has been added", REMOVED: "has been removed", CHANGED: "has changed"}
        where = self.ref.namespace or "(cluster)"
        return (
            f"{where}, {self.ref.name}, {self.ref.kind} ({self.api_version}) {verb[self.change]}:"
        )


@dataclass(frozen=True)
class ReleaseDiff:
    """What an operation on a release would change; `report` is the preflight beside it."""

    operation: str  # upgrade, rollback
    release: str
    namespace: str
    current: int | None  # the revision the cluster runs now (None: not installed)
    target: str  # e.g. "chart web-1.2.0" or "revision 1"
    changes: tuple[ObjectChange, ...]
    report: Report | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "release": self.release,
            "namespace": self.namespace,
            "currentRevision": self.current,
            "target": self.target,
            "note": self.note or None,
            "changes": [
                {
                    "group": c.ref.group,
                    "kind": c.ref.kind,
                    "namespace": c.ref.namespace,
                    "name": c.ref.name,
                    "apiVersion": c.api_version,
                    "change": c.change,
                    "diff": c.diff,
                }
                for c in self.changes
            ],
        }


def _secret_sizes(body: Mapping[str, Any] | None) -> dict[str, bytes]:
    """A Secret's values by key, decoded (stringData as the API server merges it)."""
    if body is None:
        return {}
    out: dict[str, bytes] = {}
    for key, value in (body.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value or ""), validate=True)
        except (binascii.Error, ValueError):
            out[str(key)] = str(value or "").encode()
    for key, value in (body.get("stringData") or {}).items():
        out[str(key)] = str(value or "").encode()
    return out


def mask_secrets(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Both sides of a Secret with every value replaced as helm-diff does.

    An unchanged value reads `REDACTED # (n bytes)`; a changed one `-------- # (n bytes)`
    on the old side and `++++++++ # (m bytes)` on the new. Other kinds are returned as is.
    """
    if (old or new or {}).get("kind") != "Secret":
        return (dict(old) if old is not None else None, dict(new) if new is not None else None)
    before, after = _secret_sizes(old), _secret_sizes(new)

    def masked(
        body: Mapping[str, Any] | None, mine: dict[str, bytes], other: dict[str, bytes], mark: str
    ) -> dict[str, Any] | None:
        if body is None:
            return None
        out = {k: v for k, v in body.items() if k not in ("data", "stringData")}
        if mine:
            out["data"] = {
                key: f"{'REDACTED' if other.get(key) == value else mark} # ({len(value)} bytes)"
                for key, value in sorted(mine.items())
            }
        return out

    return masked(old, before, after, "--------"), masked(new, after, before, "++++++++")


def comparable(body: Mapping[str, Any]) -> dict[str, Any]:
    """An object without what changes on every write (and without status)."""
    out = {k: v for k, v in body.items() if k != "status"}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _VOLATILE_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def object_change(
    ref: ObjectRef,
    api_version: str,
    live: Mapping[str, Any] | None,
    desired: Mapping[str, Any] | None,
    *,
    context: int = 3,
) -> ObjectChange | None:
    """The change from `live` to `desired` (either may be None), or None when there is none."""
    old, new = mask_secrets(
        comparable(live) if live is not None else None,
        comparable(desired) if desired is not None else None,
    )
    if old == new:
        return None
    before = yaml.safe_dump(old, sort_keys=False).splitlines() if old is not None else []
    after = yaml.safe_dump(new, sort_keys=False).splitlines() if new is not None else []
    change = ADDED if old is None else REMOVED if new is None else CHANGED
    text = "\n".join(difflib.unified_diff(before, after, "live", "desired", n=context, lineterm=""))
    return ObjectChange(ref, api_version, change, text)


async def compare(
    cluster: Cluster,
    namespace: str,
    name: str,
    revision: int,
    desired: Sequence[K8sObject],
    current: Iterable[ObjectRef],
    *,
    force_conflicts: bool = False,
    context: int = 3,
) -> tuple[ObjectChange, ...]:
    """The changes applying `desired` as `revision` would make; `current` is the inventory now.

    Raises the classified KubeError an apply would meet (a conflict, a rejection).
    """
    changes: list[ObjectChange] = []
    wanted = {o.ref for o in desired}
    for obj in desired:
        live = await cluster.get(obj.ref, obj.api_version)
        answer = await cluster.apply(
            stamp(obj, namespace, name, revision), force=force_conflicts, dry_run=True
        )
        change = object_change(obj.ref, obj.api_version, live, answer, context=context)
        if change is not None:
            changes.append(change)
    mine = release_id(namespace, name)
    for ref in sorted(set(current) - wanted):
        live = await cluster.get(ref)
        if live is None or owner_of(live) != mine:
            continue  # gone already, or another release's now: an upgrade leaves it
        change = object_change(ref, str(live.get("apiVersion") or ""), live, None, context=context)
        if change is not None:
            changes.append(change)
    return tuple(changes)


@contextlib.asynccontextmanager
async def _connected(options: DeployOptions, config: Configuration | None) -> AsyncIterator[Kube]:
    """The Configuration's connection (closed at the end unless it is the caller's)."""
    cfg = configuration(options, config, None, ())
    kube = await cfg.connect(options.timeout)
    try:
        yield kube
    finally:
        if cfg.close_kube:
            await kube.aclose()


async def _history(
    kube: Kube, namespace: str, name: str, options: DeployOptions
) -> tuple[Cluster, list[RevisionManifest]]:
    cluster = Cluster(kube, deadline=time.monotonic() + options.timeout)
    history = await read_history(cluster, namespace, name, kind=record_kind(options.driver))
    return cluster, history


def _inventory(rev: RevisionManifest | None) -> tuple[ObjectRef, ...]:
    return rev.inventory if rev is not None else ()


async def diff_upgrade(
    request: RenderRequest,
    options: DeployOptions,
    *,
    config: Configuration | None = None,
    context: int = 3,
) -> ReleaseDiff:
    """What `deploy` of `request` would change now, with the preflight report of that render.

    The values are computed as the upgrade computes them (`options.values_mode`). A release
    not installed yet diffs as every object added.
    """
    from helmguard.chart.capabilities import capabilities_from, with_capabilities
    from helmguard.chart.render import render_chart
    from helmguard.chart.values import merge_user_values
    from helmguard.deploy.context import rendered_as_deployed
    from helmguard.preflight.check import check_cluster

    async with _connected(options, config) as kube:
        cluster, history = await _history(kube, request.namespace, request.release, options)
        current = current_release(history)
        values = upgrade_values(merge_user_values(request.values), current, options.values_mode)
        request = replace(request, user_values=values.render, chart_values=values.chart_values)
        request = rendered_as_deployed(request, history, await kube.kubeconfig())
        served = await retry(kube.discovery.resources, timeout=options.timeout)
        version = await retry(kube.version, timeout=options.timeout)
        rendered = render_chart(with_capabilities(request, capabilities_from(version, served)))
        report = await check_cluster(
            request, kube=kube, timeout=min(60.0, options.timeout), rendered=rendered
        )
        changes = await compare(
            cluster,
            request.namespace,
            request.release,
            (history[-1].revision if history else 0) + 1,
            rendered.objects,
            _inventory(current),
            force_conflicts=options.force_conflicts,
            context=context,
        )
    return ReleaseDiff(
        "upgrade",
        request.release,
        request.namespace,
        current.revision if current is not None else None,
        f"chart {rendered.chart_name}-{rendered.chart_version}",
        changes,
        report,
        "" if history else "the release is not installed: every object would be added",
    )


async def diff_rollback(
    namespace: str,
    name: str,
    revision: int | None,
    options: DeployOptions,
    *,
    config: Configuration | None = None,
    context: int = 3,
) -> ReleaseDiff:
    """What `rollback` to `revision` (default: the one before the latest, as helm's) would change.

    Raises DiffInputError when the release or the revision is not stored.
    """
    async with _connected(options, config) as kube:
        cluster, history = await _history(kube, namespace, name, options)
        try:
            target = rollback_target(namespace, name, history, revision)
        except NoSuchRevision as exc:
            raise DiffInputError(str(exc)) from None
        latest = history[-1]
        current = current_release(history)
        changes = await compare(
            cluster,
            namespace,
            name,
            latest.revision + 1,
            target.objects,
            _inventory(current),
            force_conflicts=options.force_conflicts,
            context=context,
        )
    return ReleaseDiff(
        "rollback",
        name,
        namespace,
        current.revision if current is not None else None,
        f"revision {target.revision}",
        changes,
        note="no preflight for a rollback: the revision's objects are re-applied as stored",
    )
