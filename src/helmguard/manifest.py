"""Kubernetes objects as rendered by a chart: the YAML splitters and the one object key.

Objects stay plain dicts inside a thin `K8sObject` wrapper: cheap to build, cheap to
read on the watch path, and exactly what the API server sends and receives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmguard import goyaml

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
# apimachinery's YAMLReader (how Helm reads a crds/ file): a line starting with `---`
# ends a document when only blanks or a comment follow on that line.
_READER_SEPARATOR = re.compile(r"^---(.*)$", re.MULTILINE)


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


def load_documents(text: str, source: str = "") -> list[tuple[Any, int]]:
    """Each non-blank document of a rendered template as Helm reads it, with its line.

    Documents are split with Helm's separator and read with `goyaml` (sigs.k8s.io/yaml's
    semantics); a document holding only comments is None. Raises ManifestError naming
    the template and line for invalid YAML.
    """
    where = source or "manifest"
    found = []
    for doc, line in _documents_with_lines(text):
        body = doc.lstrip()  # Helm trims each document's leading whitespace (tabs too)
        start = line + doc.count("\n", 0, len(doc) - len(body))
        found.append((_load(body, where, start), start))
    return found


def parse_objects(text: str, source: str = "") -> list[K8sObject]:
    """Parse a rendered template into objects (see `load_documents`).

    Raises ManifestError naming the template and line for invalid YAML, a document that
    is not a mapping, or an object without apiVersion, kind or metadata.name. Documents
    that hold only comments are skipped, as Helm skips them.
    """
    where = source or "manifest"
    objects: list[K8sObject] = []
    for body, line in load_documents(text, source):
        objects.extend(_objects(body, where, line, source))
    return objects


def load_crd_documents(text: str, source: str) -> list[tuple[Any, int]]:
    """The documents of a chart's crds/ file as Helm installs it, with their lines.

    Helm reads these with apimachinery's YAMLOrJSONDecoder: a file whose first character
    is `{` is a JSON stream (read as YAML when it holds at most one value that does not
    parse, as the decoder falls back); otherwise YAML documents split with YAMLReader's
    rules, where `---` followed by anything but blanks or a comment is an error. Empty
    and null documents are skipped. Raises ManifestError with the file and line.
    """
    documents: list[tuple[Any, int]] = []
    rest = 0
    if text.lstrip().startswith("{"):
        values, rest = _json_stream(text, source)
        documents = [(body, 1) for body in values]
    line = text.count("\n", 0, rest) + 1
    for doc, at in _reader_documents(text[rest:], source):
        documents.append((_load(doc, source, line + at - 1), line + at - 1))
    return [(body, line) for body, line in documents if body is not None]


def parse_crd_file(text: str, source: str) -> list[K8sObject]:
    """The objects of a chart's crds/ file (see `load_crd_documents`)."""
    objects: list[K8sObject] = []
    for body, line in load_crd_documents(text, source):
        objects.extend(_objects(body, source, line, source))
    return objects


def _reader_documents(text: str, where: str) -> Iterator[tuple[str, int]]:
    pos = 0
    for match in [*_READER_SEPARATOR.finditer(text), None]:
        if match is not None:
            rest = match.group(1).strip()
            if rest and not rest.startswith("#"):
                line = text.count("\n", 0, match.start()) + 1
                raise ManifestError(
                    f"{where}: invalid YAML document separator at line {line}: {rest}"
                )
        end = match.start() if match else len(text)
        doc = text[pos:end]
        if doc.strip():
            yield doc, text.count("\n", 0, pos) + 1
        if match:
            pos = match.end() + 1


def _json_stream(text: str, where: str) -> tuple[list[Any], int]:
    """The JSON values at the start of `text`, and where YAMLOrJSONDecoder goes on as YAML.

    The decoder reads JSON values while they parse; when one does not and at most one
    came before, it reads the rest as YAML (from the end of the last good value, after
    the blanks up to the first newline); after two or more, the error stands.
    """
    decoder = json.JSONDecoder()
    values: list[Any] = []
    consumed = 0
    while True:
        start = consumed
        while start < len(text) and text[start].isspace():
            start += 1
        if start == len(text):
            return values, len(text)
        try:
            value, consumed = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            if len(values) > 1:
                raise ManifestError(
                    f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}"
                ) from None
            break
        values.append(value)
    rest = consumed
    while rest < len(text) and text[rest].isspace():
        rest += 1
        if text[rest - 1] == "\n":
            break
    return values, rest


def _load(doc: str, where: str, line: int) -> Any:
    try:
        return goyaml.load(doc)
    except goyaml.YAMLError as exc:
        at = line + exc.line - 1 if exc.line else line
        raise ManifestError(f"{where}: invalid YAML at line {at}: {exc.problem}") from None


def _objects(body: Any, where: str, line: int, source: str) -> list[K8sObject]:
    """The object a document holds (none for an empty one), checked to be one."""
    if body is None:
        return []
    if not isinstance(body, dict):
        raise ManifestError(
            f"{where}: document at line {line} is a {_json_type(body)}, not an object"
        )
    for required in ("apiVersion", "kind"):
        if not body.get(required):
            raise ManifestError(f"{where}: object at line {line} has no {required}")
    if not (body.get("metadata") or {}).get("name"):
        raise ManifestError(f"{where}: {body['kind']} at line {line} has no metadata.name")
    return [K8sObject(body, source)]


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"
