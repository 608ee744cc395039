"""Turn resolutions into findings: severity, plain message, the cluster's words, a fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from helmguard.graph.refs import FailureMode, Ref
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.findings import MISSING_CODES, Finding, Severity
from helmguard.preflight.resolve import ChartIndex, How, Resolution

# Failures the workload survives (or that only degrade it): never worse than a warning.
_SOFT = frozenset(
    {
        FailureMode.IMAGE_PULL_FAILURE,
        FailureMode.SILENTLY_UNUSED,
        FailureMode.PERMISSIONS_NOT_GRANTED,
        FailureMode.ROUTE_NOT_RESOLVED,
        FailureMode.SCALING_DISABLED,
    }
)
_TEMPLATED = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    }
)


def _name(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name


def _code(ref: Ref) -> str:
    kind = ref.target.kind
    if kind == "Secret" and ref.failure is FailureMode.IMAGE_PULL_FAILURE:
        return "HG104"
    if kind == "Service" and ref.failure in (
        FailureMode.WEBHOOK_BLOCKS_REQUESTS,
        FailureMode.API_UNAVAILABLE,
        FailureMode.NO_MATCH_FOR_KIND,
    ):
        return "HG115"
    if ref.failure is FailureMode.SCALING_DISABLED:
        return "HG112"
    return MISSING_CODES.get(kind, "HG129")


def predicted(ref: Ref) -> str:
    """What Kubernetes does when the target of `ref` is missing, in the cluster's words."""
    t, s = ref.target, ref.source
    lower = t.kind.lower()
    pod = f'pods "{s.name}-…"' if s.kind in _TEMPLATED else f'pods "{s.name}"'
    if t.kind == "Namespace":
        return f'rejected: namespaces "{t.name}" not found'
    f = ref.failure
    if f is FailureMode.REJECTED_AT_ADMISSION:
        if t.kind == "ServiceAccount":
            why = (
                f'error looking up service account {_name(t)}: serviceaccount "{t.name}" not found'
            )
        elif t.kind == "PriorityClass":
            why = f"no PriorityClass with name {t.name} was found"
        elif t.kind == "RuntimeClass":
            why = f'pod rejected: RuntimeClass "{t.name}" not found'
        else:
            why = f'{lower} "{t.name}" not found'
        said = f"{pod} is forbidden: {why}"
        if s.kind in _TEMPLATED:
            return f"the {s.kind} is accepted but no pod is created: FailedCreate: {said}"
        if s.kind == "Pod":
            return said
        return f"the operator's pods are rejected: {said}"
    if f is FailureMode.CREATE_CONTAINER_CONFIG_ERROR:
        return f'CreateContainerConfigError: {lower} "{t.name}" not found'
    if f is FailureMode.FAILED_MOUNT:
        return (
            "pod stuck in ContainerCreating: FailedMount: MountVolume.SetUp failed: "
            f'{lower} "{t.name}" not found'
        )
    if f is FailureMode.PENDING_FOREVER:
        if t.kind == "PersistentVolumeClaim":
            return (
                f'pod stays Pending: FailedScheduling: persistentvolumeclaim "{t.name}" not found'
            )
        if t.kind == "StorageClass":
            return (
                f"PersistentVolumeClaim stays Pending: ProvisioningFailed: "
                f'storageclass.storage.k8s.io "{t.name}" not found'
            )
        return f'stays Pending: {lower} "{t.name}" not found'
    if f is FailureMode.IMAGE_PULL_FAILURE:
        return (
            "FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets "
            f"({t.name}); attempting to pull the image may not succeed"
        )
    if f is FailureMode.WEBHOOK_BLOCKS_REQUESTS:
        return (
            f"every request the webhook matches fails: failed calling webhook: "
            f'service "{t.name}" not found'
        )
    if f is FailureMode.NO_MATCH_FOR_KIND:
        if t.kind == "CustomResourceDefinition":
            return (
                f'no matches for kind "{s.kind}" in group "{s.group}"; '
                "ensure CRDs are installed first"
            )
        return (
            f'conversion webhook fails: service "{t.name}" not found; '
            "reads and writes of the custom resources fail"
        )
    if f is FailureMode.API_UNAVAILABLE:
        return "APIService Available=False (ServiceNotFound); the group drops out of discovery"
    if f is FailureMode.SCALING_DISABLED:
        return f'AbleToScale=False: FailedGetScale: {lower} "{t.name}" not found'
    if f is FailureMode.PERMISSIONS_NOT_GRANTED:
        return "the binding is accepted but grants nothing; the subject's API calls are forbidden"
    if f is FailureMode.ROUTE_NOT_RESOLVED:
        if s.kind == "Ingress" and t.kind == "Service":
            return f'the ingress controller answers 503: service "{t.name}" not found'
        if s.kind == "Ingress" and t.kind == "Secret":
            return (
                "the ingress controller serves its default certificate: "
                f'secret "{t.name}" not found'
            )
        if s.kind == "Ingress":
            return f"no ingress controller claims this Ingress: IngressClass {t.name} not found"
        return f"ResolvedRefs=False / Accepted=False: {t.kind} {_name(t)} not found"
    if s.kind == "StatefulSet" and t.kind == "Service":
        return f"accepted, but pods get no stable DNS names: governing Service {_name(t)} not found"
    return f"{f.value}: {t.kind} {_name(t)} not found"


def _values_switch(values: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first `…serviceAccount.create: false` in the chart values, as a dotted path."""
    for key, value in values.items():
        if not isinstance(value, dict):
            continue
        path = f"{prefix}{key}"
        if "serviceaccount" in str(key).lower() and value.get("create") is False:
            return f"{path}.create"
        found = _values_switch(value, f"{path}.")
        if found:
            return found
    return None


def fix_for(ref: Ref, values: Mapping[str, Any]) -> str:
    """How to repair a reference whose target is missing."""
    t = ref.target
    create = f"create {t.kind} {_name(t)} first"
    if t.kind == "ServiceAccount" and ref.failure is FailureMode.REJECTED_AT_ADMISSION:
        switch = _values_switch(values)
        if switch:
            return f"set {switch}=true, or {create}"
        return f"{create}, or set {ref.path} to a ServiceAccount that exists"
    if t.kind in ("ConfigMap", "Secret") and ref.failure is not FailureMode.IMAGE_PULL_FAILURE:
        return f"{create}, add it to the chart, or mark the reference optional: true"
    if t.kind == "CustomResourceDefinition":
        return (
            f"install the CRD {t.name} first (or put it in the chart's crds/), "
            f"or pass --api-versions {ref.source.group}/<version> if the cluster serves it"
        )
    if t.kind == "Namespace":
        return f"create namespace {t.name} first, or install into it with -n {t.name}"
    return f"{create}, or change {ref.path}"


def _severity(ref: Ref, res: Resolution) -> Severity:
    if ref.optional:
        return Severity.INFO
    if res.how is How.MISSING or res.certain:
        return Severity.WARNING if ref.failure in _SOFT else Severity.ERROR
    return Severity.WARNING


def finding_for(
    res: Resolution, sources: Mapping[ObjectRef, str], values: Mapping[str, Any]
) -> Finding | None:
    """The finding one resolution deserves, or None when the reference is satisfied."""
    ref = res.ref
    t = ref.target
    src = sources.get(ref.source, "")
    if res.how is How.CHART:
        return _satisfied_problem(res, src)
    if res.how in (How.BUILT_IN, How.RELEASE_NAMESPACE, How.DECLARED, How.CLUSTER):
        return None
    if res.how in (How.HOOK, How.RUNTIME):
        if res.quiet:
            return None
        if res.deleted_by_hook and not ref.optional:
            return Finding.make(
                "HG132",
                Severity.WARNING,
                ref.source,
                ref.path,
                f"{t.kind} {_name(t)} is a hook with delete policy hook-succeeded: Helm deletes "
                "it once every hook of its event has succeeded",
                "after the hooks: " + predicted(ref),
                f"drop hook-succeeded from {t.kind} {_name(t)}, or make it a regular object",
                source=src,
                target=t,
            )
        code = "HG150" if res.how is How.HOOK else "HG151"
        by = f"{res.by.kind} {_name(res.by)}" if res.by else "a hook"
        return Finding.make(
            code,
            Severity.INFO,
            ref.source,
            ref.path,
            f"{t.kind} {_name(t)} is not in the release; {by} creates it ({res.note})",
            "until it exists: " + predicted(ref),
            "nothing to do if the creator runs; otherwise " + f"create {t.kind} {_name(t)} first",
            source=src,
            target=t,
        )
    severity = _severity(ref, res)
    if ref.optional:
        message = f"optional reference to {t.kind} {_name(t)}, which nothing in the chart creates"
        predicted_text = "the pod starts without it"
    else:
        if res.how is How.MISSING:
            where = "does not exist in the cluster and nothing in the chart creates it"
        elif res.certain:
            where = (
                f"is not created by the chart, and cannot already exist: the chart creates "
                f"namespace {t.namespace} itself"
            )
        else:
            where = "is not created by the chart: it must already exist in the cluster"
        message = f"{ref.source.kind} {ref.source.name} needs {t.kind} {_name(t)}, which {where}"
        predicted_text = predicted(ref)
    return Finding.make(
        _code(ref),
        severity,
        ref.source,
        ref.path,
        message,
        predicted_text,
        fix_for(ref, values),
        source=src,
        target=t,
    )


def _satisfied_problem(res: Resolution, src: str) -> Finding | None:
    """Problems left when the target is in the chart: a missing key, port, or install order."""
    ref = res.ref
    t = ref.target
    if res.key_missing:
        code = "HG121" if t.kind == "ConfigMap" else "HG122"
        return Finding.make(
            code,
            Severity.INFO if ref.optional else Severity.ERROR,
            ref.source,
            ref.path,
            f"{t.kind} {_name(t)} in the chart has no key {ref.key}",
            f"CreateContainerConfigError: couldn't find key {ref.key} in {t.kind} {_name(t)}",
            f"add key {ref.key} to {t.kind} {_name(t)}, or fix {ref.path}.key",
            source=src,
            target=t,
        )
    if res.port_missing:
        return Finding.make(
            "HG123",
            Severity.WARNING,
            ref.source,
            ref.path,
            f"Service {_name(t)} in the chart has no port {ref.port}",
            f"the backend has no endpoints on port {ref.port}; traffic fails",
            f"expose port {ref.port} on Service {_name(t)}, or fix the port in {ref.path}",
            source=src,
            target=t,
        )
    if res.before_target and not ref.optional:
        return Finding.make(
            "HG130",
            Severity.WARNING,
            ref.source,
            ref.path,
            f"pre-install hook {ref.source.kind} {ref.source.name} needs {t.kind} {_name(t)}, "
            "which the release creates only after pre-install hooks finish",
            "on first install: " + predicted(ref),
            f"make {t.kind} {_name(t)} a pre-install hook with a lower weight, "
            "or point the hook at its own object",
            source=src,
            target=t,
        )
    return None


def duplicate_findings(index: ChartIndex) -> list[Finding]:
    """HG100 for every object key that appears twice: Helm fails the install."""
    out = []
    for first, second in index.duplicates:
        where = f" ({first.source} and {second.source})" if first.source or second.source else ""
        out.append(
            Finding.make(
                "HG100",
                Severity.ERROR,
                second.ref,
                "metadata.name",
                f"{second.ref} is rendered twice{where}",
                f'install fails: {second.kind.lower()} "{second.name}" already exists',
                "rename one of them, or render it once",
                source=second.source,
            )
        )
    return out


def scheduler_findings(objects: Iterable[K8sObject]) -> list[Finding]:
    """HG131 (info) for pods that name a scheduler other than the default one."""
    from helmguard.kube.kinds import POD_SPEC_PATHS

    out = []
    for obj in objects:
        steps = POD_SPEC_PATHS.get(obj.kind)
        if steps is None:
            continue
        spec: Any = obj.body
        for step in steps:
            spec = spec.get(step) if isinstance(spec, dict) else None
        name = spec.get("schedulerName") if isinstance(spec, dict) else None
        if isinstance(name, str) and name and name != "default-scheduler":
            out.append(
                Finding.make(
                    "HG131",
                    Severity.INFO,
                    obj.ref,
                    ".".join(steps) + ".schedulerName",
                    f"pods use scheduler {name}",
                    f"pods stay Pending with no event unless a scheduler named {name} runs",
                    f"make sure scheduler {name} runs in the cluster, or unset schedulerName",
                    source=obj.source,
                )
            )
    return out
