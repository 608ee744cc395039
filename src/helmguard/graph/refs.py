"""Every by-name reference a Kubernetes object can make, with its exact field path.

One file past 400 lines: one table of every by-name reference field of the built-in kinds,
deliberately in one place.

`extract_refs` walks plain dicts (no copies, no models) and returns one `Ref` per
reference: who refers, to what, through which field, whether the field says
`optional: true`, and how the cluster fails when the target is missing. It never
decides whether a target exists: that is `preflight/`'s job.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helmguard.kube.kinds import BUILTIN_GROUPS, POD_SPEC_PATHS, WORKLOAD_GROUPS, is_workload
from helmguard.manifest import CLUSTER_SCOPED_KINDS, K8sObject, ObjectRef, group_of


class FailureMode(enum.Enum):
    """What Kubernetes does when the target of a reference does not exist."""

    REJECTED_AT_ADMISSION = "rejected at admission (FailedCreate for a pod template)"
    CREATE_CONTAINER_CONFIG_ERROR = "container stays in CreateContainerConfigError"
    FAILED_MOUNT = "pod stuck in ContainerCreating with FailedMount"
    PENDING_FOREVER = "stays Pending"
    IMAGE_PULL_FAILURE = "kubelet warns FailedToRetrieveImagePullSecret; private images fail"
    SILENTLY_UNUSED = "accepted, but silently has no effect"
    PERMISSIONS_NOT_GRANTED = "accepted, but grants nothing"
    WEBHOOK_BLOCKS_REQUESTS = "every matching API request fails"
    NO_MATCH_FOR_KIND = "rejected: no matches for kind"
    SCALING_DISABLED = "HorizontalPodAutoscaler AbleToScale=False"
    ROUTE_NOT_RESOLVED = "route or backend unresolved; traffic fails"
    API_UNAVAILABLE = "APIService Available=False; the group drops out of discovery"


@dataclass(frozen=True, slots=True)
class Ref:
    """One by-name reference from `source` to `target` through the field at `path`."""

    source: ObjectRef
    target: ObjectRef
    path: str
    optional: bool
    failure: FailureMode
    key: str | None = None  # the key a configMapKeyRef / secretKeyRef needs in the target
    port: str | None = None  # the Service port (name or number) a route or backend needs
    implicit: bool = False  # the field is unset and Kubernetes fills in the target (default SA)


CRD_GROUP = "apiextensions.k8s.io"
RBAC_GROUP = "rbac.authorization.k8s.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"


def pod_labels(obj: K8sObject) -> Mapping[str, Any] | None:
    """The labels of the pods a workload creates, or None for a non-workload."""
    if not is_workload(obj.ref):
        return None
    if obj.kind == "Pod":
        return obj.labels
    path = (*POD_SPEC_PATHS[obj.kind][:-1], "metadata", "labels")
    node: Any = obj.body
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def service_selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A Service's map selector on pod labels; the empty selector selects nothing."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


_ROUTE_KINDS = frozenset({"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"})
_WEBHOOK_KINDS = frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})
# Legacy in-tree volume sources that name a Secret through `secretRef.name`.
_VOLUME_SECRET_REFS = ("cephfs", "rbd", "flexVolume", "scaleIO", "storageos", "iscsi", "cinder")


def guess_plural(kind: str) -> str:
    """Kubernetes' own guess of a resource name from a kind (meta.UnsafeGuessKindToResource)."""
    lower = kind.lower()
    if not lower:
        return lower
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def crd_index(objects: Iterable[K8sObject]) -> dict[tuple[str, str], K8sObject]:
    """CustomResourceDefinitions among `objects`, keyed by (group, kind) of what they define."""
    index: dict[tuple[str, str], K8sObject] = {}
    for obj in objects:
        if obj.kind != "CustomResourceDefinition":
            continue
        spec = obj.spec
        names = spec.get("names") or {}
        group, kind = spec.get("group"), names.get("kind")
        if isinstance(group, str) and isinstance(kind, str):
            index[(group, kind)] = obj
    return index


def _m(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(value: Any) -> str | None:
    """A usable object name, or None for unset/empty/templated-away values."""
    return value if isinstance(value, str) and value else None


class _Collector:
    """Accumulates refs for one source object; keeps the hot loop free of repeated lookups."""

    __slots__ = ("namespace", "out", "source")

    def __init__(self, source: ObjectRef, namespace: str, out: list[Ref]) -> None:
        self.source = source
        self.namespace = namespace
        self.out = out

    def add(
        self,
        group: str,
        kind: str,
        name: Any,
        path: str,
        failure: FailureMode,
        *,
        namespace: str | None = None,
        optional: Any = False,
        key: Any = None,
        port: Any = None,
        implicit: bool = False,
    ) -> None:
        target_name = _name(name)
        if target_name is None or not kind:
            return
        if kind in CLUSTER_SCOPED_KINDS:
            ns = ""
        else:
            ns = namespace if isinstance(namespace, str) and namespace else self.namespace
        self.out.append(
            Ref(
                self.source,
                ObjectRef(group, kind, ns, target_name),
                path,
                optional is True,
                failure,
                key if isinstance(key, str) else None,
                None if port is None else str(port),
                implicit,
            )
        )


def _pod_spec(c: _Collector, spec: Mapping[str, Any], p: str) -> None:
    """Refs of one pod spec found at path prefix `p`."""
    rejected = FailureMode.REJECTED_AT_ADMISSION
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if _name(sa):
        field = "serviceAccountName" if spec.get("serviceAccountName") else "serviceAccount"
        c.add("", "ServiceAccount", sa, f"{p}.{field}", rejected)
    else:
        c.add("", "ServiceAccount", "default", f"{p}.serviceAccountName", rejected, implicit=True)
    for i, s in enumerate(_seq(spec.get("imagePullSecrets"))):
        c.add(
            "",
            "Secret",
            _m(s).get("name"),
            f"{p}.imagePullSecrets[{i}].name",
            FailureMode.IMAGE_PULL_FAILURE,
        )
    c.add(
        "scheduling.k8s.io",
        "PriorityClass",
        spec.get("priorityClassName"),
        f"{p}.priorityClassName",
        rejected,
    )
    c.add(
        "node.k8s.io",
        "RuntimeClass",
        spec.get("runtimeClassName"),
        f"{p}.runtimeClassName",
        rejected,
    )
    for i, v in enumerate(_seq(spec.get("volumes"))):
        _volume(c, _m(v), f"{p}.volumes[{i}]")
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, ctr in enumerate(_seq(spec.get(field))):
            _container(c, _m(ctr), f"{p}.{field}[{i}]")
    for i, rc in enumerate(_seq(spec.get("resourceClaims"))):
        rc = _m(rc)
        if rc.get("resourceClaimName"):
            c.add(
                "resource.k8s.io",
                "ResourceClaim",
                rc["resourceClaimName"],
                f"{p}.resourceClaims[{i}].resourceClaimName",
                FailureMode.PENDING_FOREVER,
            )
        if rc.get("resourceClaimTemplateName"):
            c.add(
                "resource.k8s.io",
                "ResourceClaimTemplate",
                rc["resourceClaimTemplateName"],
                f"{p}.resourceClaims[{i}].resourceClaimTemplateName",
                FailureMode.PENDING_FOREVER,
            )


def _volume(c: _Collector, v: Mapping[str, Any], p: str) -> None:
    mount = FailureMode.FAILED_MOUNT
    cm = v.get("configMap")
    if cm:
        cm = _m(cm)
        c.add(
            "",
            "ConfigMap",
            cm.get("name"),
            f"{p}.configMap.name",
            mount,
            optional=cm.get("optional"),
        )
    sec = v.get("secret")
    if sec:
        sec = _m(sec)
        c.add(
            "",
            "Secret",
            sec.get("secretName"),
            f"{p}.secret.secretName",
            mount,
            optional=sec.get("optional"),
        )
    pvc = v.get("persistentVolumeClaim")
    if pvc:
        c.add(
            "",
            "PersistentVolumeClaim",
            _m(pvc).get("claimName"),
            f"{p}.persistentVolumeClaim.claimName",
            FailureMode.PENDING_FOREVER,
        )
    projected = v.get("projected")
    if projected:
        for j, src in enumerate(_seq(_m(projected).get("sources"))):
            src = _m(src)
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                ref = src.get(field)
                if ref:
                    ref = _m(ref)
                    c.add(
                        "",
                        kind,
                        ref.get("name"),
                        f"{p}.projected.sources[{j}].{field}.name",
                        mount,
                        optional=ref.get("optional"),
                    )
    eph = v.get("ephemeral")
    if eph:
        cls = _m(_m(_m(eph).get("volumeClaimTemplate")).get("spec")).get("storageClassName")
        c.add(
            "storage.k8s.io",
            "StorageClass",
            cls,
            f"{p}.ephemeral.volumeClaimTemplate.spec.storageClassName",
            FailureMode.PENDING_FOREVER,
        )
    csi = v.get("csi")
    if csi:
        c.add(
            "",
            "Secret",
            _m(_m(csi).get("nodePublishSecretRef")).get("name"),
            f"{p}.csi.nodePublishSecretRef.name",
            mount,
        )
    azure = v.get("azureFile")
    if azure:
        c.add("", "Secret", _m(azure).get("secretName"), f"{p}.azureFile.secretName", mount)
    for field in _VOLUME_SECRET_REFS:
        legacy = v.get(field)
        if legacy:
            name = _m(_m(legacy).get("secretRef")).get("name")
            c.add("", "Secret", name, f"{p}.{field}.secretRef.name", mount)


def _container(c: _Collector, ctr: Mapping[str, Any], p: str) -> None:
    config = FailureMode.CREATE_CONTAINER_CONFIG_ERROR
    for j, env in enumerate(_seq(ctr.get("env"))):
        value_from = _m(env).get("valueFrom")
        if not value_from:
            continue
        value_from = _m(value_from)
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = value_from.get(field)
            if ref:
                ref = _m(ref)
                c.add(
                    "",
                    kind,
                    ref.get("name"),
                    f"{p}.env[{j}].valueFrom.{field}",
                    config,
                    optional=ref.get("optional"),
                    key=ref.get("key"),
                )
    for j, env_from in enumerate(_seq(ctr.get("envFrom"))):
        env_from = _m(env_from)
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = env_from.get(field)
            if ref:
                ref = _m(ref)
                c.add(
                    "",
                    kind,
                    ref.get("name"),
                    f"{p}.envFrom[{j}].{field}.name",
                    config,
                    optional=ref.get("optional"),
                )


def _service_ref(
    c: _Collector, svc: Any, p: str, failure: FailureMode, *, namespace_field: bool
) -> None:
    """A `{namespace, name, port}` Service reference (webhooks, APIService, conversion)."""
    svc = _m(svc)
    ns = svc.get("namespace") if namespace_field else None
    c.add("", "Service", svc.get("name"), f"{p}.name", failure, namespace=ns, port=svc.get("port"))


def _ingress_backend(c: _Collector, backend: Any, p: str) -> None:
    backend = _m(backend)
    route = FailureMode.ROUTE_NOT_RESOLVED
    svc = backend.get("service")
    if svc:
        svc = _m(svc)
        port = _m(svc.get("port"))
        c.add(
            "",
            "Service",
            svc.get("name"),
            f"{p}.service.name",
            route,
            port=port.get("name") or port.get("number"),
        )
    elif backend.get("serviceName"):  # networking.k8s.io/v1beta1 and extensions/v1beta1
        c.add(
            "",
            "Service",
            backend["serviceName"],
            f"{p}.serviceName",
            route,
            port=backend.get("servicePort"),
        )
    res = backend.get("resource")
    if res:
        res = _m(res)
        c.add(
            str(res.get("apiGroup") or ""),
            str(res.get("kind") or ""),
            res.get("name"),
            f"{p}.resource.name",
            route,
        )


def _ingress(c: _Collector, spec: Mapping[str, Any]) -> None:
    c.add(
        "networking.k8s.io",
        "IngressClass",
        spec.get("ingressClassName"),
        "spec.ingressClassName",
        FailureMode.SILENTLY_UNUSED,
    )
    if spec.get("defaultBackend"):
        _ingress_backend(c, spec["defaultBackend"], "spec.defaultBackend")
    if spec.get("backend"):
        _ingress_backend(c, spec["backend"], "spec.backend")
    for i, rule in enumerate(_seq(spec.get("rules"))):
        paths = _seq(_m(_m(rule).get("http")).get("paths"))
        for j, path in enumerate(paths):
            _ingress_backend(c, _m(path).get("backend"), f"spec.rules[{i}].http.paths[{j}].backend")
    for i, tls in enumerate(_seq(spec.get("tls"))):
        c.add(
            "",
            "Secret",
            _m(tls).get("secretName"),
            f"spec.tls[{i}].secretName",
            FailureMode.ROUTE_NOT_RESOLVED,
        )


def _binding(c: _Collector, body: Mapping[str, Any], cluster: bool) -> None:
    role = _m(body.get("roleRef"))
    kind = role.get("kind")
    if kind in ("Role", "ClusterRole") and not (cluster and kind == "Role"):
        c.add(
            RBAC_GROUP,
            str(kind),
            role.get("name"),
            "roleRef.name",
            FailureMode.PERMISSIONS_NOT_GRANTED,
        )
    for i, subject in enumerate(_seq(body.get("subjects"))):
        subject = _m(subject)
        if subject.get("kind") == "ServiceAccount":
            c.add(
                "",
                "ServiceAccount",
                subject.get("name"),
                f"subjects[{i}].name",
                FailureMode.PERMISSIONS_NOT_GRANTED,
                namespace=subject.get("namespace"),
            )


def _typed_ref(
    c: _Collector,
    ref: Mapping[str, Any],
    p: str,
    default_group: str,
    default_kind: str,
    failure: FailureMode,
    *,
    with_port: bool = False,
) -> None:
    """A Gateway API `{group, kind, namespace, name}` reference with the spec's defaults."""
    group = ref.get("group")
    kind = ref.get("kind")
    c.add(
        default_group if group is None else str(group),
        str(kind or default_kind),
        ref.get("name"),
        f"{p}.name",
        failure,
        namespace=ref.get("namespace"),
        port=ref.get("port") if with_port else None,
    )


def _gateway_api(c: _Collector, kind: str, spec: Mapping[str, Any]) -> None:
    unresolved = FailureMode.ROUTE_NOT_RESOLVED
    if kind == "Gateway":
        c.add(
            GATEWAY_GROUP,
            "GatewayClass",
            spec.get("gatewayClassName"),
            "spec.gatewayClassName",
            unresolved,
        )
        for i, listener in enumerate(_seq(spec.get("listeners"))):
            tls = _m(_m(listener).get("tls"))
            for j, cert in enumerate(_seq(tls.get("certificateRefs"))):
                _typed_ref(
                    c,
                    _m(cert),
                    f"spec.listeners[{i}].tls.certificateRefs[{j}]",
                    "",
                    "Secret",
                    unresolved,
                )
        return
    for i, parent in enumerate(_seq(spec.get("parentRefs"))):
        _typed_ref(c, _m(parent), f"spec.parentRefs[{i}]", GATEWAY_GROUP, "Gateway", unresolved)
    for i, rule in enumerate(_seq(spec.get("rules"))):
        for j, backend in enumerate(_seq(_m(rule).get("backendRefs"))):
            _typed_ref(
                c,
                _m(backend),
                f"spec.rules[{i}].backendRefs[{j}]",
                "",
                "Service",
                unresolved,
                with_port=True,
            )


def _custom_resource(
    c: _Collector, obj: K8sObject, group: str, crds: Mapping[tuple[str, str], K8sObject]
) -> None:
    crd = crds.get((group, obj.kind))
    if crd is not None:
        plural = _m(crd.spec.get("names")).get("plural") or guess_plural(obj.kind)
    else:
        plural = guess_plural(obj.kind)
    c.add(
        CRD_GROUP,
        "CustomResourceDefinition",
        f"{plural}.{group}",
        "apiVersion",
        FailureMode.NO_MATCH_FOR_KIND,
    )
    spec = obj.spec
    # Operators (Prometheus, Alertmanager, ...) turn these into pod specs of their own.
    sa = spec.get("serviceAccountName")
    if isinstance(sa, str):
        c.add(
            "", "ServiceAccount", sa, "spec.serviceAccountName", FailureMode.REJECTED_AT_ADMISSION
        )
    c.add(
        "scheduling.k8s.io",
        "PriorityClass",
        spec.get("priorityClassName"),
        "spec.priorityClassName",
        FailureMode.REJECTED_AT_ADMISSION,
    )
    for i, s in enumerate(_seq(spec.get("imagePullSecrets"))):
        c.add(
            "",
            "Secret",
            _m(s).get("name"),
            f"spec.imagePullSecrets[{i}].name",
            FailureMode.IMAGE_PULL_FAILURE,
        )


def _object_refs(obj: K8sObject, crds: Mapping[tuple[str, str], K8sObject], out: list[Ref]) -> None:
    body = obj.body
    kind = obj.kind
    ref = obj.ref
    c = _Collector(ref, ref.namespace, out)
    group = ref.group
    if ref.namespace:
        c.add(
            "", "Namespace", ref.namespace, "metadata.namespace", FailureMode.REJECTED_AT_ADMISSION
        )
    if group not in BUILTIN_GROUPS:
        _custom_resource(c, obj, group, crds)
        if group == GATEWAY_GROUP and (kind == "Gateway" or kind in _ROUTE_KINDS):
            _gateway_api(c, kind, obj.spec)
        return
    pod_path = POD_SPEC_PATHS.get(kind)
    if pod_path is not None and WORKLOAD_GROUPS[kind] == group:
        spec: Any = body
        for step in pod_path:
            spec = _m(spec).get(step)
        if isinstance(spec, dict):
            _pod_spec(c, spec, ".".join(pod_path))
    spec = obj.spec
    if kind == "StatefulSet":
        c.add(
            "", "Service", spec.get("serviceName"), "spec.serviceName", FailureMode.SILENTLY_UNUSED
        )
        for i, vct in enumerate(_seq(spec.get("volumeClaimTemplates"))):
            cls = _m(_m(vct).get("spec")).get("storageClassName")
            c.add(
                "storage.k8s.io",
                "StorageClass",
                cls,
                f"spec.volumeClaimTemplates[{i}].spec.storageClassName",
                FailureMode.PENDING_FOREVER,
            )
    elif kind == "PersistentVolumeClaim":
        pending = FailureMode.PENDING_FOREVER
        c.add(
            "storage.k8s.io",
            "StorageClass",
            spec.get("storageClassName"),
            "spec.storageClassName",
            pending,
        )
        c.add("", "PersistentVolume", spec.get("volumeName"), "spec.volumeName", pending)
        for field in ("dataSourceRef", "dataSource"):
            src = spec.get(field)
            if src:
                src = _m(src)
                c.add(
                    str(src.get("apiGroup") or ""),
                    str(src.get("kind") or ""),
                    src.get("name"),
                    f"spec.{field}.name",
                    pending,
                    namespace=src.get("namespace"),
                )
                break  # dataSource mirrors dataSourceRef when both are set
    elif kind == "Ingress":
        _ingress(c, spec)
    elif kind == "HorizontalPodAutoscaler":
        target = _m(spec.get("scaleTargetRef"))
        c.add(
            group_of(str(target.get("apiVersion") or "")),
            str(target.get("kind") or ""),
            target.get("name"),
            "spec.scaleTargetRef.name",
            FailureMode.SCALING_DISABLED,
        )
    elif kind in ("RoleBinding", "ClusterRoleBinding") and group == RBAC_GROUP:
        _binding(c, body, kind == "ClusterRoleBinding")
    elif kind == "ServiceAccount":
        for field in ("secrets", "imagePullSecrets"):
            failure = (
                FailureMode.IMAGE_PULL_FAILURE
                if field == "imagePullSecrets"
                else FailureMode.SILENTLY_UNUSED
            )
            for i, s in enumerate(_seq(body.get(field))):
                c.add("", "Secret", _m(s).get("name"), f"{field}[{i}].name", failure)
    elif kind in _WEBHOOK_KINDS:
        for i, hook in enumerate(_seq(body.get("webhooks"))):
            hook = _m(hook)
            svc = _m(hook.get("clientConfig")).get("service")
            if svc:
                fails = hook.get("failurePolicy", "Fail") != "Ignore"
                failure = (
                    FailureMode.WEBHOOK_BLOCKS_REQUESTS if fails else FailureMode.SILENTLY_UNUSED
                )
                _service_ref(
                    c, svc, f"webhooks[{i}].clientConfig.service", failure, namespace_field=True
                )
    elif kind == "CustomResourceDefinition":
        conversion = _m(spec.get("conversion"))
        svc = _m(_m(conversion.get("webhook")).get("clientConfig")).get("service")
        if svc:
            _service_ref(
                c,
                svc,
                "spec.conversion.webhook.clientConfig.service",
                FailureMode.NO_MATCH_FOR_KIND,
                namespace_field=True,
            )
    elif kind == "APIService" and spec.get("service"):
        _service_ref(
            c,
            spec["service"],
            "spec.service",
            FailureMode.API_UNAVAILABLE,
            namespace_field=True,
        )


def extract_refs(objects: Iterable[K8sObject], *, crds: Iterable[K8sObject] = ()) -> list[Ref]:
    """Every by-name reference made by `objects`, in object order then field order.

    `crds` are CustomResourceDefinitions known besides `objects` (a chart's `crds/`);
    they name the CRD a custom resource needs. Without one, the plural is Kubernetes'
    own guess from the kind. Object namespaces must already be defaulted.
    """
    objs = objects if isinstance(objects, list) else list(objects)
    index = crd_index(objs)
    for key, crd in crd_index(crds).items():
        index.setdefault(key, crd)
    out: list[Ref] = []
    for obj in objs:
        _object_refs(obj, index, out)
    return out
