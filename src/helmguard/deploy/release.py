"""What a release is on the cluster: ownership metadata on each object, and stored revisions.

One file past 400 lines: Helm's record format (encode, decode, labels, statuses, migration)
is one contract with Helm's storage.

Every applied object carries Helm's ownership annotations (`meta.helm.sh/release-name`
and `-namespace`) plus helmguard's (`helmguard.io/release: <namespace>/<name>`,
`helmguard.io/revision: <n>`); the release's objects (not hooks, nor crds/ CRDs) Helm's label
`app.kubernetes.io/managed-by: Helm`, which helm's adoption checks and tools select by
(pkg/action/validate.go setMetadataVisitor); the chart's other labels stay as rendered. Each
revision is stored exactly as Helm v4 stores it (pkg/storage/driver): a Secret
`sh.helm.release.v1.<name>.v<n>` of type `helm.sh/release.v1` (or a ConfigMap with
HELM_DRIVER=configmap) labelled owner/name/status/version, whose `release` key holds
base64(gzip(JSON of the release)) — so helm and helmguard manage the same releases.
helmguard's own facts (what was applied, with uids; values digest; outcome; CRDs) go in
an extra `helmguard` key that Helm never reads. Records helm wrote have no such key:
their inventory is their manifest.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import yaml

from helmguard.kube.errors import OwnershipConflict
from helmguard.manifest import K8sObject, ManifestError, ObjectRef

HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"  # helm sets it to "Helm"
RELEASE_ANNOTATION = "helmguard.io/release"
REVISION_ANNOTATION = "helmguard.io/revision"


def release_id(namespace: str, name: str) -> str:
    """The value of the release annotation: `<namespace>/<name>`."""
    return f"{namespace}/{name}"


def stamp(
    obj: K8sObject, namespace: str, name: str, revision: int, *, helm_label: bool = True
) -> dict[str, Any]:
    """The body to apply: `obj` with Helm's and helmguard's ownership annotations added,
    and with `helm_label` Helm's managed-by label (helm labels neither hooks nor crds/)."""
    body = dict(obj.body)
    meta = dict(obj.metadata)
    if helm_label:
        meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: "Helm"}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        HELM_RELEASE_ANNOTATION: name,
        HELM_NAMESPACE_ANNOTATION: namespace,
        RELEASE_ANNOTATION: release_id(namespace, name),
        REVISION_ANNOTATION: str(revision),
    }
    body["metadata"] = meta
    return body


def owner_of(live: Mapping[str, Any]) -> str | None:
    """The release (`ns/name`) a live object belongs to, by Helm's annotations, or None.

    helm and helmguard share releases, so Helm's annotations decide; helmguard's own
    annotation only for objects applied before helmguard wrote Helm's.
    """
    meta = live.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get(HELM_RELEASE_ANNOTATION):
        ns = annotations.get(HELM_NAMESPACE_ANNOTATION) or meta.get("namespace") or ""
        return release_id(str(ns), str(annotations[HELM_RELEASE_ANNOTATION]))
    if annotations.get(RELEASE_ANNOTATION):
        return str(annotations[RELEASE_ANNOTATION])
    return None


def check_ownership(
    ref: ObjectRef, live: Mapping[str, Any], namespace: str, name: str, *, adopt: bool
) -> None:
    """Raise OwnershipConflict unless the live object is this release's (or `adopt` is set).

    An object with no owner at all was created outside any release; taking it over
    silently would make uninstall delete something nobody asked it to manage.
    """
    if adopt:
        return
    owner = owner_of(live)
    mine = release_id(namespace, name)
    if owner == mine:
        return
    err = OwnershipConflict(ref, owner=owner or "(none: created outside any release)", release=mine)
    if owner is None:
        err.fix = (
            "Pass --adopt to take it over into this release, or delete it, or rename the object "
            "in the chart."
        )
    else:
        err.fix += " Or pass --adopt to move it to this release."
    raise err


@dataclass(frozen=True)
class Applied:
    """An object the API server confirmed: its key, uid and the resourceVersion it returned."""

    ref: ObjectRef
    api_version: str
    uid: str
    resource_version: str
    created: bool  # it did not exist before this apply

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.ref.group,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "apiVersion": self.api_version,
            "uid": self.uid,
            "resourceVersion": self.resource_version,
            "created": self.created,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Applied:
        return Applied(
            ObjectRef(data["group"], data["kind"], data["namespace"], data["name"]),
            str(data.get("apiVersion") or ""),
            str(data.get("uid") or ""),
            str(data.get("resourceVersion") or ""),
            bool(data.get("created")),
        )


@dataclass(frozen=True)
class RevisionManifest:
    """One revision as stored on the cluster: its objects, hooks, CRDs and what was applied.

    `helm` is the release as Helm stores it (pkg/release/v1.Release's JSON: chart, config,
    manifest, hooks, info); `status` is Helm's status of this revision (deployed,
    superseded, failed, pending-install, ...), `outcome` helmguard's word for how the
    operation that wrote it ended. `facts` says helmguard's extras were on the record
    (written by helmguard, not rewritten by helm since); `legacy` marks a record in
    helmguard's own format from before, to be rewritten as Helm's.
    """

    release: str
    namespace: str
    revision: int
    chart: str
    chart_version: str
    values_digest: str
    outcome: str
    objects: tuple[K8sObject, ...]
    crds: tuple[K8sObject, ...]
    hooks: tuple[dict[str, Any], ...]  # {"body", "events", "weight", "delete_policies"}
    applied: tuple[Applied, ...]
    status: str = ""
    helm: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # Helm's custom release labels
    # Every label of the record as read (the storage driver's too: `helm get metadata`);
    # how it was stored, not what the revision is: left out of comparisons.
    record_labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    facts: bool = True
    legacy: bool = False

    @property
    def inventory(self) -> tuple[ObjectRef, ...]:
        """The objects this revision is known to have put on the cluster.

        What the API server confirmed when helmguard wrote the record; the manifest's
        objects for a record helm wrote (helm keeps no other account).
        """
        if self.facts:
            return tuple(a.ref for a in self.applied)
        return tuple(o.ref for o in self.objects)

    @property
    def info(self) -> Mapping[str, Any]:
        return self.helm.get("info") or {}

    @property
    def description(self) -> str:
        return str(self.info.get("description") or "")

    @property
    def notes(self) -> str:
        return str(self.info.get("notes") or "")

    @property
    def config(self) -> Mapping[str, Any]:
        """The user-supplied values of this revision (Helm's `config`)."""
        return self.helm.get("config") or {}

    @property
    def manifest(self) -> str:
        return str(self.helm.get("manifest") or "")

    @property
    def app_version(self) -> str:
        meta = (self.helm.get("chart") or {}).get("metadata") or {}
        return str(meta.get("appVersion") or "")

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATUSES


# ---- Helm's storage: pkg/storage/driver ------------------------------------------------

RECORD_TYPE = "helm.sh/release.v1"
HELM_OWNER = "helm"
LEGACY_RECORD_TYPE = "helmguard.io/release.v1"
LEGACY_OWNER = "helmguard"
RECORD_OWNER_LABEL = "owner"
RECORD_NAME_LABEL = "name"
RECORD_STATUS_LABEL = "status"
RECORD_VERSION_LABEL = "version"
# Helm's driver.systemLabels: never custom release labels.
SYSTEM_LABELS = frozenset({"name", "owner", "status", "version", "createdAt", "modifiedAt"})
# helmguard's extras: a data key Helm neither reads nor (on its own records) writes.
FACTS_KEY = "helmguard"
HELM_DRIVER_ENV = "HELM_DRIVER"
_DRIVERS = {
    "": "Secret",
    "secret": "Secret",
    "secrets": "Secret",
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
}
PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
# pkg/release/common: statuses a revision can be in.
STATUSES = (
    "unknown",
    "deployed",
    "uninstalled",
    "superseded",
    "failed",
    "uninstalling",
    *sorted(PENDING_STATUSES),
)
_GZIP_MAGIC = b"\x1f\x8b\x08"
# Go's zero time.Time as encoding/json writes it.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def record_kind(driver: str | None = None) -> str:
    """`Secret` or `ConfigMap`: where HELM_DRIVER (`driver`, else the environment) keeps records.

    Raises ValueError for a driver helmguard cannot share with helm (memory, sql, typos).
    """
    value = os.environ.get(HELM_DRIVER_ENV, "") if driver is None else driver
    kind = _DRIVERS.get(value.strip().lower())
    if kind is None:
        raise ValueError(
            f"{HELM_DRIVER_ENV}={value!r} is not a release storage helmguard can share with "
            "helm; use secret (the default) or configmap"
        )
    return kind


def record_name(name: str, revision: int) -> str:
    """Helm's storage key: `sh.helm.release.v1.<name>.v<revision>`."""
    return f"sh.helm.release.v1.{name}.v{revision}"


def legacy_record_name(name: str, revision: int) -> str:
    """The Secret helmguard stored revisions in before it wrote Helm's records."""
    return f"helmguard.release.v1.{name}.v{revision}"


def go_time(at: datetime) -> str:
    """A timestamp as Go's encoding/json writes a UTC time.Time (RFC3339Nano)."""
    at = at.astimezone(UTC)
    frac = f"{at.microsecond:06d}".rstrip("0")
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _pack(value: Any) -> str:
    """Helm's encodeRelease: base64(gzip(JSON)), best compression."""
    blob = gzip.compress(json.dumps(value, default=str).encode(), compresslevel=9)
    return base64.b64encode(blob).decode()


def _unpack(text: str) -> Any:
    """Helm's decodeRelease: base64, gunzip when gzip'd (older records are not), JSON."""
    blob = base64.b64decode(text)
    if blob[:3] == _GZIP_MAGIC:
        blob = gzip.decompress(blob)
    return json.loads(blob)


def helm_release(
    *,
    name: str,
    namespace: str,
    revision: int,
    chart: Mapping[str, Any],
    config: Mapping[str, Any],
    manifest: str,
    hooks: Iterable[Mapping[str, Any]],
    notes: str,
    status: str,
    description: str,
    first_deployed: str,
    last_deployed: str,
    rollback_revision: int = 0,
) -> dict[str, Any]:
    """A pkg/release/v1.Release as JSON (server-side apply, like `helm --server-side`)."""
    info: dict[str, Any] = {
        "first_deployed": first_deployed,
        "last_deployed": last_deployed,
        "description": description,
        "status": status,
    }
    if rollback_revision:
        info["rollback_revision"] = rollback_revision
    if notes:
        info["notes"] = notes
    release: dict[str, Any] = {
        "name": name,
        "info": info,
        "chart": dict(chart),
        "manifest": manifest,
        "hooks": [dict(h) for h in hooks],
        "version": revision,
        "namespace": namespace,
        "apply_method": "ssa",
    }
    if config:
        release["config"] = dict(config)
    return release


def helm_hooks(hooks: Iterable[Any], manifests: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """pkg/release/v1.Hook JSON for rendered hooks and their (template path, text)."""
    return [
        {
            "name": h.obj.name,
            "kind": h.obj.kind,
            "path": path,
            "manifest": text,
            "events": list(h.events),
            "last_run": {"phase": ""},
            "weight": int(h.weight),
            "delete_policies": list(h.delete_policies),
        }
        for h, (path, text) in zip(hooks, manifests, strict=True)
    ]


@dataclass(frozen=True)
class HookRun:
    """When a hook last ran and how it ended: pkg/release/v1.HookExecution (its LastRun)."""

    started_at: datetime
    completed_at: datetime | None = None
    phase: str = "Running"  # Running, then Succeeded or Failed

    def ended(self, ok: bool) -> HookRun:
        return replace(self, completed_at=datetime.now(UTC), phase="Succeeded" if ok else "Failed")

    def to_json(self) -> dict[str, str]:
        """As Go's encoding/json writes it (zero times omitted)."""
        out = {"started_at": go_time(self.started_at)}
        if self.completed_at is not None:
            out["completed_at"] = go_time(self.completed_at)
        out["phase"] = self.phase
        return out


def with_hook_runs(rev: RevisionManifest, runs: Mapping[ObjectRef, HookRun]) -> RevisionManifest:
    """`rev` whose record says when each of `runs`' hooks last ran (helm's Hook.last_run, read
    by `helm status`'s TEST SUITE lines); the record's other hooks keep theirs."""
    by_name = {(ref.kind, ref.name): run for ref, run in runs.items()}
    hooks = [
        {**h, "last_run": by_name[key].to_json()}
        if (key := (h.get("kind"), h.get("name"))) in by_name
        else h
        for h in rev.helm.get("hooks") or ()
    ]
    return replace(rev, helm={**rev.helm, "hooks": hooks}) if by_name else rev


def with_status(
    rev: RevisionManifest,
    status: str,
    *,
    outcome: str | None = None,
    description: str | None = None,
    at: datetime | None = None,
) -> RevisionManifest:
    """`rev` in another Helm status (and description; `at` sets last_deployed/deleted)."""
    info = dict(rev.info)
    info["status"] = status
    if description is not None:
        info["description"] = description
    if at is not None:
        info["deleted" if status == "uninstalled" else "last_deployed"] = go_time(at)
    return replace(
        rev,
        status=status,
        outcome=rev.outcome if outcome is None else outcome,
        helm={**rev.helm, "info": info},
    )


def least_recent(history: Sequence[RevisionManifest], maximum: int) -> list[RevisionManifest]:
    """Helm's Storage.removeLeastRecent: the oldest revisions beyond `maximum`.

    The last deployed revision is never among them.
    """
    if maximum < 0 or len(history) <= maximum:
        return []
    ordered = sorted(history, key=lambda r: r.revision)
    deployed = [r.revision for r in ordered if r.status == "deployed"]
    keep = deployed[-1] if deployed else None
    out: list[RevisionManifest] = []
    for rev in ordered:
        if len(ordered) - len(out) == maximum:
            break
        if rev.revision != keep:
            out.append(rev)
    return out


def encode_record(rev: RevisionManifest, kind: str = "Secret") -> dict[str, Any]:
    """The Secret (or ConfigMap) that stores `rev` in its release namespace, as Helm writes it."""
    release = {
        **rev.helm,
        "name": rev.release,
        "namespace": rev.namespace,
        "version": rev.revision,
        "info": {**rev.info, "status": rev.status},
    }
    facts = {
        "outcome": rev.outcome,
        "valuesDigest": rev.values_digest,
        "applied": [a.to_json() for a in rev.applied],
        "crds": [dict(o.body) for o in rev.crds],
    }
    data = {"release": _pack(release)}
    if rev.facts:  # a record helm wrote stays helm's: its manifest is its inventory
        data[FACTS_KEY] = _pack(facts)
    labels = {
        **{k: v for k, v in rev.labels.items() if k not in SYSTEM_LABELS},
        RECORD_NAME_LABEL: rev.release,
        RECORD_OWNER_LABEL: HELM_OWNER,
        RECORD_STATUS_LABEL: rev.status,
        RECORD_VERSION_LABEL: str(rev.revision),
    }
    meta = {"name": record_name(rev.release, rev.revision), "namespace": rev.namespace}
    if kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "labels": labels},
            "data": data,
        }
    # The Secret driver stores the base64 text as the Secret's bytes: base64 twice on the wire.
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": RECORD_TYPE,
        "metadata": {**meta, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _outcome_of(status: str) -> str:
    """helmguard's outcome for a revision helm wrote, from its Helm status."""
    if status in ("deployed", "superseded"):
        return "deployed"
    if status in PENDING_STATUSES:
        return "pending"
    if status in ("uninstalled", "uninstalling"):
        return "uninstalled"
    return "failed"


def decode_record(record: Mapping[str, Any]) -> RevisionManifest:
    """Read a revision back from its Secret or ConfigMap; ValueError if it is not one.

    Helm's records (written by helm or helmguard) and helmguard's legacy records alike.
    """
    meta = record.get("metadata") or {}
    name = meta.get("name")
    try:
        if record.get("type") == LEGACY_RECORD_TYPE:
            return _decode_legacy(record)
        data = record.get("data") or {}
        secret = record.get("kind", "Secret") == "Secret"

        def text(key: str) -> str:
            raw = str(data[key])
            return base64.b64decode(raw).decode() if secret else raw

        release = _unpack(text("release"))
        facts = _unpack(text(FACTS_KEY)) if FACTS_KEY in data else None
        return _from_helm(release, facts, meta.get("labels") or {})
    except (KeyError, ValueError, TypeError, OSError, ManifestError) as exc:
        raise ValueError(
            f"{record.get('kind', 'Secret')} {name} is not a release record: {exc}"
        ) from None


def _from_helm(
    release: Mapping[str, Any], facts: Mapping[str, Any] | None, labels: Mapping[str, str]
) -> RevisionManifest:
    from helmguard.chart.render import objects_from_manifest

    namespace = str(release["namespace"])
    status = str((release.get("info") or {}).get("status") or "unknown")
    crds = tuple(K8sObject(b) for b in (facts or {}).get("crds") or ())
    hooks = []
    for h in release.get("hooks") or ():
        doc = f"---\n# Source: {h.get('path', '')}\n{h.get('manifest', '')}\n"
        for obj in objects_from_manifest(doc, namespace, crds):
            hooks.append(
                {
                    "body": dict(obj.body),
                    "events": list(h.get("events") or ()),
                    "weight": int(h.get("weight") or 0),
                    "delete_policies": list(h.get("delete_policies") or ()),
                }
            )
    chart_meta = (release.get("chart") or {}).get("metadata") or {}
    return RevisionManifest(
        release=str(release["name"]),
        namespace=namespace,
        revision=int(release["version"]),
        chart=str(chart_meta.get("name") or ""),
        chart_version=str(chart_meta.get("version") or ""),
        values_digest=str((facts or {}).get("valuesDigest") or ""),
        outcome=str((facts or {}).get("outcome") or _outcome_of(status)),
        objects=objects_from_manifest(str(release.get("manifest") or ""), namespace, crds),
        crds=crds,
        hooks=tuple(hooks),
        applied=tuple(Applied.from_json(a) for a in (facts or {}).get("applied") or ()),
        status=status,
        helm=release,
        labels={k: str(v) for k, v in labels.items() if k not in SYSTEM_LABELS},
        record_labels={k: str(v) for k, v in labels.items()},
        facts=facts is not None,
    )


def _decode_legacy(secret: Mapping[str, Any]) -> RevisionManifest:
    """A record in helmguard's format from before, as the Helm release it becomes.

    That format kept no user values (only their digest): the migrated `config` is empty.
    """
    payload = json.loads(gzip.decompress(base64.b64decode(str(secret["data"]["release"]))))
    sources = payload.get("sources") or []
    objects = tuple(
        K8sObject(body, sources[i] if i < len(sources) else "")
        for i, body in enumerate(payload.get("objects") or ())
    )
    hooks = tuple(payload.get("hooks") or ())
    outcome = str(payload.get("outcome") or "failed")
    status = {"deployed": "deployed", "running": "failed", "pending": "failed"}.get(
        outcome, "failed"
    )
    created = str((secret.get("metadata") or {}).get("creationTimestamp") or GO_ZERO_TIME)
    helm = helm_release(
        name=payload["release"],
        namespace=payload["namespace"],
        revision=int(payload["revision"]),
        chart={
            "metadata": {
                "name": payload.get("chart", ""),
                "version": payload.get("chartVersion", ""),
                "apiVersion": "v2",
            },
            "lock": None,
            "templates": [],
            "values": {},
            "schema": None,
            "files": [],
        },
        config={},
        manifest="".join(
            f"---\n# Source: {o.source or 'migrated'}\n"
            f"{yaml.safe_dump(dict(o.body), sort_keys=False)}"
            for o in objects
        ),
        hooks=[
            {
                "name": (h["body"].get("metadata") or {}).get("name", ""),
                "kind": h["body"].get("kind", ""),
                "path": "migrated",
                "manifest": yaml.safe_dump(h["body"], sort_keys=False).rstrip("\n"),
                "events": list(h.get("events") or ()),
                "last_run": {"phase": ""},
                "weight": int(h.get("weight") or 0),
                "delete_policies": list(h.get("delete_policies") or ()),
            }
            for h in hooks
        ],
        notes="",
        status=status,
        description=f"migrated from helmguard's record ({outcome})",
        first_deployed=created,
        last_deployed=created,
    )
    return RevisionManifest(
        release=payload["release"],
        namespace=payload["namespace"],
        revision=int(payload["revision"]),
        chart=payload.get("chart", ""),
        chart_version=payload.get("chartVersion", ""),
        values_digest=payload.get("valuesDigest", ""),
        outcome=outcome,
        objects=objects,
        crds=tuple(K8sObject(b) for b in payload.get("crds") or ()),
        hooks=hooks,
        applied=tuple(Applied.from_json(a) for a in payload.get("applied") or ()),
        status=status,
        helm=helm,
        legacy=True,
    )


def hook_json(hooks: Iterable[Any]) -> tuple[dict[str, Any], ...]:
    """chart.render.Hook values as JSON-ready dicts for the release record."""
    return tuple(
        {
            "body": dict(h.obj.body),
            "events": list(h.events),
            "weight": int(h.weight),
            "delete_policies": list(h.delete_policies),
        }
        for h in hooks
    )
