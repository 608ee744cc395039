"""Resolve each reference: to an object in the chart, a hook, a built-in, or the cluster.

One file past 400 lines: one resolver per reference kind, all over the same index of the
chart and built-ins.

Resolution is a pure function of the rendered chart plus one optional question for
the cluster, `existing(ref) -> True | False | None` (None: cannot tell, as offline).
A live lookup plugs in there without changing anything else.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from helmguard.graph.refs import (
    CRD_GROUP,
    RBAC_GROUP,
    FailureMode,
    Ref,
    extract_refs,
    guess_plural,
)
from helmguard.kube.kinds import POD_SPEC_PATHS
from helmguard.manifest import K8sObject, ObjectRef

Existing = Callable[[ObjectRef], bool | None]


class HookLike(Protocol):
    """What resolution needs from a chart hook (chart.render.Hook satisfies it)."""

    @property
    def obj(self) -> K8sObject: ...
    @property
    def events(self) -> Sequence[str]: ...
    @property
    def weight(self) -> int: ...
    @property
    def delete_policies(self) -> Sequence[str]: ...


class How(enum.Enum):
    """How a reference's target comes to exist (or why we cannot say)."""

    CHART = "created by the chart"
    HOOK = "created by a hook"
    RUNTIME = "created at run time"
    BUILT_IN = "built into Kubernetes"
    RELEASE_NAMESPACE = "the release namespace"
    DECLARED = "API declared with --api-versions"
    CLUSTER = "exists in the cluster"
    MISSING = "absent"
    UNKNOWN = "unresolved: must already exist in the cluster"


@dataclass(frozen=True)
class Resolution:
    """The answer for one reference. `by` names the object that satisfies it, if any."""

    ref: Ref
    how: How
    by: ObjectRef | None = None
    note: str = ""
    key_missing: bool = False  # target in the chart, but without the referenced key
    port_missing: bool = False  # target Service in the chart, but without the port
    before_target: bool = False  # a pre-install hook needs a release object created later
    certain: bool = False  # for UNKNOWN: the target cannot pre-exist (chart-created namespace)
    quiet: bool = False  # satisfied in a way not worth telling (a hook needing an earlier hook)
    deleted_by_hook: bool = False  # the hook object is deleted once its hooks succeed


BUILTIN_CLUSTER_ROLES = frozenset({"cluster-admin", "admin", "edit", "view"})
BUILTIN_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Roles kube-apiserver bootstraps in kube-system / kube-public.
_BUILTIN_ROLE_NAMESPACES = frozenset({"kube-system", "kube-public"})
_BUILTIN_ROLES = frozenset({"extension-apiserver-authentication-reader"})

_CORE_PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
_CREATE_VERBS = frozenset({"create", "*"})
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CERT_MANAGER_ANNOTATIONS = (
    "cert-manager.io/cluster-issuer",
    "cert-manager.io/issuer",
    "kubernetes.io/tls-acme",
)


def is_builtin(target: ObjectRef) -> bool:
    """True for objects every cluster has (default SA, kube-root-ca.crt, system classes, roles)."""
    kind, name = target.kind, target.name
    if kind == "ServiceAccount":
        return name == "default"
    if kind == "ConfigMap":
        return name == "kube-root-ca.crt"
    if kind == "PriorityClass":
        return name in BUILTIN_PRIORITY_CLASSES
    if kind == "ClusterRole":
        return name in BUILTIN_CLUSTER_ROLES or name.startswith("system:")
    if kind == "Role":
        return target.namespace in _BUILTIN_ROLE_NAMESPACES and (
            name.startswith("system:") or name in _BUILTIN_ROLES
        )
    if kind == "Namespace":
        return name in BUILTIN_NAMESPACES
    return False


def resource_of(kind: str) -> str:
    """The resource (plural) RBAC rules name for `kind`."""
    return _CORE_PLURALS.get(kind) or guess_plural(kind)


def _m(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class _Grant:
    namespace: str  # "" = every namespace (ClusterRoleBinding)
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]  # empty = any name


@dataclass
class _Creator:
    """A pod-running object that might create objects at run time."""

    ref: ObjectRef
    hook: HookLike | None
    service_account: ObjectRef
    tokens: frozenset[str]
    # What its own pods need before they start (its ServiceAccount, mounted ConfigMaps and
    # Secrets, claims): it can never be what creates them.
    needs: frozenset[ObjectRef] = frozenset()
    grants: list[_Grant] = field(default_factory=list)

    def can_create(self, target: ObjectRef) -> bool:
        resource = resource_of(target.kind)
        for g in self.grants:
            if g.namespace and g.namespace != target.namespace:
                continue
            if (
                (target.group in g.groups or "*" in g.groups)
                and (resource in g.resources or "*" in g.resources)
                and (not g.names or target.name in g.names)
            ):
                return True
        return False


def _pod_spec_of(obj: K8sObject) -> Mapping[str, Any]:
    spec: Any = obj.body
    for step in POD_SPEC_PATHS.get(obj.kind, ()):
        spec = _m(spec).get(step)
    return _m(spec)


def _needed_before_start(obj: K8sObject) -> Iterator[ObjectRef]:
    """Objects `obj`'s pods cannot start without: non-optional volumes and claims."""
    for ref in extract_refs([obj]):
        if ref.optional:
            continue
        if ref.failure is FailureMode.FAILED_MOUNT or ref.target.kind == "PersistentVolumeClaim":
            yield ref.target


def _tokens(pod_spec: Mapping[str, Any]) -> frozenset[str]:
    """Words in the containers' command, args and env values (where a creator names its output)."""
    words: set[str] = set()
    for field_name in ("initContainers", "containers"):
        for ctr in _seq(pod_spec.get(field_name)):
            ctr = _m(ctr)
            texts = [*_seq(ctr.get("command")), *_seq(ctr.get("args"))]
            texts += [_m(e).get("value") for e in _seq(ctr.get("env"))]
            for text in texts:
                if isinstance(text, str):
                    words.update(_TOKEN.findall(text))
    return frozenset(words)


def _rules_grants(rules: Any, namespace: str) -> list[_Grant]:
    grants = []
    for rule in _seq(rules):
        rule = _m(rule)
        verbs = {str(v) for v in _seq(rule.get("verbs"))}
        if not verbs & _CREATE_VERBS:
            continue
        grants.append(
            _Grant(
                namespace,
                frozenset(str(g) for g in _seq(rule.get("apiGroups"))),
                frozenset(str(r) for r in _seq(rule.get("resources"))),
                frozenset(str(n) for n in _seq(rule.get("resourceNames"))),
            )
        )
    return grants


class ChartIndex:
    """Everything a rendered chart will create, indexed by object key."""

    def __init__(
        self,
        objects: Iterable[K8sObject],
        *,
        hooks: Iterable[HookLike] = (),
        crds: Iterable[K8sObject] = (),
        release_namespace: str = "",
        api_versions: Iterable[str] = (),
    ) -> None:
        self.objects: dict[ObjectRef, K8sObject] = {}
        self.duplicates: list[tuple[K8sObject, K8sObject]] = []
        crds = list(crds)
        # CRDs from crds/ are installed before any hook runs; templates only after pre-install.
        self.early = frozenset(c.ref for c in crds)
        for obj in [*crds, *objects]:
            first = self.objects.setdefault(obj.ref, obj)
            if first is not obj:
                self.duplicates.append((first, obj))
        self.hooks: dict[ObjectRef, HookLike] = {}
        for hook in hooks:
            first_hook = self.hooks.setdefault(hook.obj.ref, hook)
            if first_hook is not hook and set(first_hook.events) & set(hook.events):
                self.duplicates.append((first_hook.obj, hook.obj))
            # A hook may also be a release object (Helm installs both): not a duplicate.
        self.release_namespace = release_namespace
        self.api_versions = frozenset(api_versions)
        self.created_namespaces = frozenset(
            r.name for r in [*self.objects, *self.hooks] if r.kind == "Namespace" and not r.group
        )
        self._producers: dict[ObjectRef, tuple[ObjectRef, str]] | None = None
        self._creators: list[_Creator] | None = None

    def all_objects(self) -> list[K8sObject]:
        return [*self.objects.values(), *(h.obj for h in self.hooks.values())]

    def producers(self) -> dict[ObjectRef, tuple[ObjectRef, str]]:
        """Secrets that controllers make from objects in the chart (cert-manager, ESO, sealed)."""
        if self._producers is None:
            found: dict[ObjectRef, tuple[ObjectRef, str]] = {}
            for obj in self.all_objects():
                kind, group, ns = obj.kind, obj.ref.group, obj.namespace
                name: Any = None
                note = ""
                if kind == "Certificate" and group == "cert-manager.io":
                    name, note = obj.spec.get("secretName"), "cert-manager Certificate"
                elif kind == "ExternalSecret" and group == "external-secrets.io":
                    name = _m(obj.spec.get("target")).get("name") or obj.name
                    note = "External Secrets Operator ExternalSecret"
                elif kind == "SealedSecret" and group == "bitnami.com":
                    name, note = obj.name, "Sealed Secrets controller"
                elif kind == "Ingress" and any(
                    a in obj.annotations for a in _CERT_MANAGER_ANNOTATIONS
                ):
                    for tls in _seq(obj.spec.get("tls")):
                        secret = _m(tls).get("secretName")
                        if isinstance(secret, str) and secret:
                            found[ObjectRef("", "Secret", ns, secret)] = (
                                obj.ref,
                                "cert-manager ingress-shim",
                            )
                    continue
                if isinstance(name, str) and name:
                    found[ObjectRef("", "Secret", ns, name)] = (obj.ref, note)
            self._producers = found
        return self._producers

    def creators(self) -> list[_Creator]:
        """Hook and regular Jobs/Pods/workloads, with what their ServiceAccount may create."""
        if self._creators is None:
            creators: list[_Creator] = []
            for obj in self.all_objects():
                if obj.kind not in POD_SPEC_PATHS:
                    continue
                spec = _pod_spec_of(obj)
                sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
                service_account = ObjectRef("", "ServiceAccount", obj.namespace, str(sa))
                creators.append(
                    _Creator(
                        obj.ref,
                        self.hooks.get(obj.ref),
                        service_account,
                        _tokens(spec),
                        frozenset({service_account, *_needed_before_start(obj)}),
                    )
                )
            if creators:
                self._attach_grants(creators)
            self._creators = creators
        return self._creators

    def _attach_grants(self, creators: list[_Creator]) -> None:
        roles: dict[ObjectRef, Any] = {}
        bindings: list[K8sObject] = []
        for obj in self.all_objects():
            if obj.ref.group != RBAC_GROUP:
                continue
            if obj.kind in ("Role", "ClusterRole"):
                roles[obj.ref] = obj.body.get("rules")
            elif obj.kind in ("RoleBinding", "ClusterRoleBinding"):
                bindings.append(obj)
        for binding in bindings:
            role_ref = _m(binding.body.get("roleRef"))
            kind = str(role_ref.get("kind") or "")
            role_ns = binding.namespace if kind == "Role" else ""
            rules = roles.get(ObjectRef(RBAC_GROUP, kind, role_ns, str(role_ref.get("name") or "")))
            scope = binding.namespace  # "" for a ClusterRoleBinding: every namespace
            grants = _rules_grants(rules, scope)
            if not grants:
                continue
            for subject in _seq(binding.body.get("subjects")):
                subject = _m(subject)
                if subject.get("kind") != "ServiceAccount":
                    continue
                sa_ns = str(subject.get("namespace") or binding.namespace)
                sa = ObjectRef("", "ServiceAccount", sa_ns, str(subject.get("name") or ""))
                for creator in creators:
                    if creator.service_account == sa:
                        creator.grants.extend(grants)


@dataclass
class ChartResolver:
    """Resolves against the chart, built-ins, then `existing` (None: offline, cannot tell)."""

    index: ChartIndex
    existing: Existing | None = None

    def resolve(self, ref: Ref) -> Resolution:
        target = ref.target
        index = self.index
        obj = index.objects.get(target)
        if obj is not None:
            return self._in_chart(ref, obj)
        hook = index.hooks.get(target)
        if hook is not None:
            events = ", ".join(hook.events)
            source_hook = index.hooks.get(ref.source)
            # Helm creates hooks of one event by ascending weight: an earlier hook is just there.
            quiet = (
                source_hook is not None
                and bool(set(source_hook.events) & set(hook.events))
                and hook.weight <= source_hook.weight
            )
            note = f"{events} hook, weight {hook.weight}"
            # hook-succeeded deletes the object once its event's hooks have all succeeded.
            deleted = source_hook is None and "hook-succeeded" in hook.delete_policies
            return Resolution(ref, How.HOOK, target, note, quiet=quiet, deleted_by_hook=deleted)
        if ref.implicit or is_builtin(target):
            return Resolution(ref, How.BUILT_IN)
        if target.kind == "Namespace" and target.name == index.release_namespace:
            return Resolution(ref, How.RELEASE_NAMESPACE)
        if target.kind == "CustomResourceDefinition" and target.group == CRD_GROUP:
            declared = self._declared(ref)
            if declared is not None:
                return declared
        produced = index.producers().get(target)
        if produced is not None:
            return Resolution(ref, How.RUNTIME, produced[0], produced[1])
        created = self._created_by(target)
        if created is not None:
            return Resolution(ref, created[0], created[1], created[2])
        known = self.existing(target) if self.existing is not None else None
        if known is True:
            return Resolution(ref, How.CLUSTER)
        if known is False:
            return Resolution(ref, How.MISSING)
        certain = bool(target.namespace) and target.namespace in index.created_namespaces
        return Resolution(ref, How.UNKNOWN, certain=certain)

    def _in_chart(self, ref: Ref, obj: K8sObject) -> Resolution:
        key_missing = False
        if ref.key is not None and obj.kind in ("ConfigMap", "Secret"):
            body = obj.body
            key_missing = not any(
                ref.key in _m(body.get(f)) for f in ("data", "binaryData", "stringData")
            )
        port_missing = False
        if ref.port is not None and obj.kind == "Service" and ref.target.group == "":
            ports = _seq(obj.spec.get("ports"))
            port_missing = bool(ports) and not any(
                ref.port in (str(_m(p).get("name")), str(_m(p).get("port"))) for p in ports
            )
        before = False
        source_hook = self.index.hooks.get(ref.source)
        if (
            source_hook is not None
            and ref.failure is not FailureMode.SILENTLY_UNUSED
            and obj.ref not in self.index.early
        ):
            events = set(source_hook.events)
            before = "pre-install" in events
        return Resolution(
            ref,
            How.CHART,
            obj.ref,
            key_missing=key_missing,
            port_missing=port_missing,
            before_target=before,
        )

    def _declared(self, ref: Ref) -> Resolution | None:
        """A CRD counts as present when the user declared its API with --api-versions."""
        source = self.index.objects.get(ref.source) or getattr(
            self.index.hooks.get(ref.source), "obj", None
        )
        if source is None:
            return None
        api_version = source.api_version
        versions = self.index.api_versions
        if api_version in versions or f"{api_version}/{source.kind}" in versions:
            return Resolution(ref, How.DECLARED, note=api_version)
        return None

    def _created_by(self, target: ObjectRef) -> tuple[How, ObjectRef, str] | None:
        """A hook (or a Job) that plausibly creates `target` at install time."""
        for creator in self.index.creators():
            if creator.ref == target or target in creator.needs:
                continue
            named = target.name in creator.tokens
            allowed = creator.can_create(target)
            if creator.hook is not None and (named or allowed):
                why = "names it in its arguments" if named else "its RBAC allows creating it"
                events = ", ".join(creator.hook.events)
                return How.HOOK, creator.ref, f"{events} hook; {why}"
            if creator.hook is None and named and allowed:
                return How.RUNTIME, creator.ref, "names it, and its RBAC allows creating it"
        return None
