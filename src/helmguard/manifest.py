"""Kubernetes objects as rendered by a chart: the one YAML splitter and the one object key.

Objects stay plain dicts inside a thin `K8sObject` wrapper: cheap to build, cheap to
read on the watch path, and exactly what the API server sends and receives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

# Helm v4's pkg/release/v1/util.SplitManifests separator: a line starting with `---`, with
# anything after it on the same line (`---# comment`) staying in the next document.
_HELM_SEPARATOR = re.compile(r"^---[ \t]*", re.MULTILINE)

# Kinds whose objects have no namespace. Discovery is authoritative when there is a
# cluster; this table is the offline answer for the built-in kinds.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "DeviceClass",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "GatewayClass",
    }
)


# libyaml's safe loader when present: several times faster on large renders.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Helm v4 pkg/release/v1/util.InstallOrder: the kind order Helm installs in.
HELM_INSTALL_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
_INSTALL_RANK = {kind: rank for rank, kind in enumerate(HELM_INSTALL_ORDER)}


def kind_rank(kind: str) -> int:
    """Position of `kind` in Helm's install order; custom kinds after all built-in ones."""
    return _INSTALL_RANK.get(kind, len(HELM_INSTALL_ORDER))


class ManifestError(ValueError):
    """A rendered document is not a usable Kubernetes object (bad YAML, no kind, no name)."""


@dataclass(frozen=True, order=True)
class ObjectRef:
    """The one key of an object: API group, kind, namespace ("" if cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{kind} {where}{self.name}"


def group_of(api_version: str) -> str:
    """`apps/v1` -> `apps`; `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class K8sObject:
    """A Kubernetes object as a plain dict, with the fields everyone needs at hand."""

    body: Mapping[str, Any]
    source: str = ""  # the template path that produced it, when it came from a chart
    ref: ObjectRef = field(init=False, compare=False)

    def __post_init__(self) -> None:
        meta = self.body.get("metadata") or {}
        object.__setattr__(
            self,
            "ref",
            ObjectRef(
                group_of(str(self.body.get("apiVersion", ""))),
                str(self.body.get("kind", "")),
                str(meta.get("namespace") or ""),
                str(meta.get("name") or ""),
            ),
        )

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str:
        return self.ref.namespace

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.body.get("metadata") or {}

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def status(self) -> Mapping[str, Any]:
        return self.body.get("status") or {}


def split_documents(text: str) -> list[str]:
    """Split a multi-document manifest exactly as Helm does, dropping blank documents."""
    docs = _HELM_SEPARATOR.split(text.lstrip())
    return [d.lstrip() for d in docs if d.strip()]


def _documents_with_lines(text: str) -> Iterator[tuple[str, int]]:
    """Each non-blank document with the 1-based line it starts on."""
    pos = 0
    for match in [*_HELM_SEPARATOR.finditer(text), None]:
        end = match.start() if match else len(text)
        doc = text[pos:end]
        if doc.strip():
            yield doc, text.count("\n", 0, pos) + 1
        if match:
            pos = match.end()


def parse_objects(text: str, source: str = "") -> list[K8sObject]:
    """Parse a rendered template into objects.

    Raises ManifestError naming the template and line for invalid YAML, a document that
    is not a mapping, or an object without apiVersion, kind or metadata.name. Documents
    that hold only comments are skipped, as Helm skips them.
    """
    where = source or "manifest"
    objects: list[K8sObject] = []
    for doc, line in _documents_with_lines(text):
        try:
            body = yaml.load(doc, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = line + mark.line if mark is not None else line
            problem = getattr(exc, "problem", None) or str(exc)
            raise ManifestError(f"{where}: invalid YAML at line {at}: {problem}") from None
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ManifestError(
                f"{where}: document at line {line} is a {type(body).__name__}, not an object"
            )
        for required in ("apiVersion", "kind"):
            if not body.get(required):
                raise ManifestError(f"{where}: object at line {line} has no {required}")
        if not (body.get("metadata") or {}).get("name"):
            raise ManifestError(f"{where}: {body['kind']} at line {line} has no metadata.name")
        objects.append(K8sObject(body, source))
    return objects
