"""What a release is on the cluster: ownership metadata on each object, and stored revisions.

Every applied object is labelled `app.kubernetes.io/managed-by: helmguard` and annotated
with `helmguard.io/release: <namespace>/<name>` and `helmguard.io/revision: <n>`, so
whose it is never needs guessing. Each revision's rendered objects (Secrets included)
are kept like Helm keeps them: gzip'd JSON in a Secret of the release namespace
(`helmguard.release.v1.<name>.v<n>`), since Secret contents must never reach the
database. Rollback and uninstall read them back.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helmguard.kube.errors import OwnershipConflict
from helmguard.manifest import K8sObject, ObjectRef

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "helmguard"
RELEASE_ANNOTATION = "helmguard.io/release"
REVISION_ANNOTATION = "helmguard.io/revision"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
RECORD_TYPE = "helmguard.io/release.v1"
RECORD_OWNER_LABEL = "owner"
RECORD_NAME_LABEL = "name"
RECORD_REVISION_LABEL = "revision"
RECORD_STATUS_LABEL = "status"


def release_id(namespace: str, name: str) -> str:
    """The value of the release annotation: `<namespace>/<name>`."""
    return f"{namespace}/{name}"


def stamp(obj: K8sObject, namespace: str, name: str, revision: int) -> dict[str, Any]:
    """The body to apply: `obj` with helmguard's ownership label and annotations added."""
    body = dict(obj.body)
    meta = dict(obj.metadata)
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        RELEASE_ANNOTATION: release_id(namespace, name),
        REVISION_ANNOTATION: str(revision),
    }
    body["metadata"] = meta
    return body


def owner_of(live: Mapping[str, Any]) -> str | None:
    """Who owns a live object: `ns/name` (helmguard), `helm:ns/name` (Helm), or None."""
    meta = live.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get(RELEASE_ANNOTATION):
        return str(annotations[RELEASE_ANNOTATION])
    if annotations.get(HELM_RELEASE_ANNOTATION):
        ns = annotations.get(HELM_NAMESPACE_ANNOTATION) or meta.get("namespace") or ""
        return f"helm:{ns}/{annotations[HELM_RELEASE_ANNOTATION]}"
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
    elif owner.startswith("helm:"):
        err.fix = (
            f"It is managed by Helm release {owner[5:]!r}: uninstall it with Helm, or pass "
            "--adopt to move the object to helmguard."
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
    """One revision as stored on the cluster: its objects, hooks, CRDs and what was applied."""

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

    @property
    def inventory(self) -> tuple[ObjectRef, ...]:
        """The objects this revision is known to have put on the cluster."""
        return tuple(a.ref for a in self.applied)


def record_name(name: str, revision: int) -> str:
    return f"helmguard.release.v1.{name}.v{revision}"


def encode_record(rev: RevisionManifest) -> dict[str, Any]:
    """The Secret that stores `rev` in its release namespace."""
    payload = {
        "release": rev.release,
        "namespace": rev.namespace,
        "revision": rev.revision,
        "chart": rev.chart,
        "chartVersion": rev.chart_version,
        "valuesDigest": rev.values_digest,
        "outcome": rev.outcome,
        "objects": [dict(o.body) for o in rev.objects],
        "sources": [o.source for o in rev.objects],
        "crds": [dict(o.body) for o in rev.crds],
        "hooks": list(rev.hooks),
        "applied": [a.to_json() for a in rev.applied],
    }
    blob = gzip.compress(json.dumps(payload, default=str).encode())
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": RECORD_TYPE,
        "metadata": {
            "name": record_name(rev.release, rev.revision),
            "namespace": rev.namespace,
            "labels": {
                RECORD_OWNER_LABEL: MANAGED_BY,
                RECORD_NAME_LABEL: rev.release,
                RECORD_REVISION_LABEL: str(rev.revision),
                RECORD_STATUS_LABEL: rev.outcome,
            },
        },
        "data": {"release": base64.b64encode(blob).decode()},
    }


def decode_record(secret: Mapping[str, Any]) -> RevisionManifest:
    """Read a revision back from its Secret; ValueError if it is not one."""
    try:
        blob = base64.b64decode(str((secret.get("data") or {})["release"]))
        payload = json.loads(gzip.decompress(blob))
    except (KeyError, ValueError, OSError) as exc:
        name = (secret.get("metadata") or {}).get("name")
        raise ValueError(f"Secret {name} is not a helmguard release record: {exc}") from None
    sources = payload.get("sources") or []
    objects = tuple(
        K8sObject(body, sources[i] if i < len(sources) else "")
        for i, body in enumerate(payload.get("objects") or ())
    )
    return RevisionManifest(
        release=payload["release"],
        namespace=payload["namespace"],
        revision=int(payload["revision"]),
        chart=payload.get("chart", ""),
        chart_version=payload.get("chartVersion", ""),
        values_digest=payload.get("valuesDigest", ""),
        outcome=payload.get("outcome", ""),
        objects=objects,
        crds=tuple(K8sObject(b) for b in payload.get("crds") or ()),
        hooks=tuple(payload.get("hooks") or ()),
        applied=tuple(Applied.from_json(a) for a in payload.get("applied") or ()),
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
