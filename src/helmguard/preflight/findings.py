"""Findings: what preflight reports, and the one table of stable finding codes.

A code never changes meaning once released; new problems get new codes. Each code
has a short kebab-case name (used in SARIF rule names and `--output json`) and a
one-line description (SARIF rule help).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from helmguard.manifest import ObjectRef


class Severity(enum.IntEnum):
    """Ordered so that `max()` gives the worst; `--fail-on` compares with `>=`."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Code:
    """One row of the code table."""

    code: str
    name: str
    summary: str


_TABLE: tuple[Code, ...] = (
    Code("HG100", "duplicate-object", "Two objects share kind, namespace and name; install fails."),
    Code(
        "HG101",
        "missing-service-account",
        "A pod or binding names a ServiceAccount nothing creates.",
    ),
    Code(
        "HG102", "missing-configmap", "A volume or env reference names a ConfigMap nothing creates."
    ),
    Code(
        "HG103", "missing-secret", "A volume, env or TLS reference names a Secret nothing creates."
    ),
    Code("HG104", "missing-image-pull-secret", "imagePullSecrets names a Secret nothing creates."),
    Code("HG105", "missing-persistent-volume-claim", "A pod volume names a PVC nothing creates."),
    Code(
        "HG106",
        "missing-priority-class",
        "priorityClassName names a PriorityClass that does not exist.",
    ),
    Code(
        "HG107",
        "missing-runtime-class",
        "runtimeClassName names a RuntimeClass that does not exist.",
    ),
    Code(
        "HG108",
        "missing-storage-class",
        "storageClassName names a StorageClass that does not exist.",
    ),
    Code(
        "HG109",
        "missing-persistent-volume",
        "volumeName names a PersistentVolume that does not exist.",
    ),
    Code(
        "HG110",
        "missing-service",
        "A route, backend or StatefulSet names a Service nothing creates.",
    ),
    Code(
        "HG111",
        "missing-ingress-class",
        "ingressClassName names an IngressClass that does not exist.",
    ),
    Code("HG112", "missing-scale-target", "scaleTargetRef names a workload nothing creates."),
    Code("HG113", "missing-role", "roleRef names a Role nothing creates."),
    Code("HG114", "missing-cluster-role", "roleRef names a ClusterRole that does not exist."),
    Code(
        "HG115",
        "missing-webhook-service",
        "A webhook, APIService or conversion names a missing Service.",
    ),
    Code("HG116", "missing-crd", "A custom resource's CustomResourceDefinition is not installed."),
    Code("HG117", "missing-namespace", "An object is in a namespace nothing creates."),
    Code(
        "HG118",
        "missing-gateway-class",
        "gatewayClassName names a GatewayClass that does not exist.",
    ),
    Code("HG119", "missing-gateway", "A route's parentRef names a Gateway nothing creates."),
    Code(
        "HG120",
        "missing-resource-claim",
        "resourceClaims names a claim or template nothing creates.",
    ),
    Code(
        "HG121", "missing-configmap-key", "configMapKeyRef names a key the chart's ConfigMap lacks."
    ),
    Code("HG122", "missing-secret-key", "secretKeyRef names a key the chart's Secret lacks."),
    Code(
        "HG123",
        "missing-service-port",
        "A backend names a port the chart's Service does not expose.",
    ),
    Code("HG124", "selector-matches-nothing", "A Service, PDB or NetworkPolicy selects no pod."),
    Code(
        "HG125",
        "missing-metrics-api",
        "An HPA's metrics come from an API the cluster does not serve (metrics-server, …).",
    ),
    Code("HG129", "missing-object", "A by-name reference to an object nothing creates."),
    Code(
        "HG130", "hook-needs-release-object", "A pre-install hook needs an object created after it."
    ),
    Code(
        "HG131", "custom-scheduler", "schedulerName names a scheduler other than default-scheduler."
    ),
    Code(
        "HG132", "hook-object-deleted", "A release object needs a hook object deleted after hooks."
    ),
    Code("HG200", "namespace-terminating", "The object's namespace is being deleted."),
    Code(
        "HG201",
        "not-looked-up",
        "A reference could not be looked up in the cluster (no permission, API down).",
    ),
    Code(
        "HG202",
        "no-default-storage-class",
        "A claim sets no storageClassName and the cluster has no default StorageClass.",
    ),
    Code("HG210", "permission-denied", "The deployer lacks a permission the deploy needs."),
    Code(
        "HG211",
        "role-escalation-denied",
        "A Role grants permissions the deployer does not hold (and it lacks escalate).",
    ),
    Code(
        "HG212",
        "binding-escalation-denied",
        "A binding grants a role the deployer may not bind (lacks bind and the role's rules).",
    ),
    Code(
        "HG220",
        "dry-run-missing-dependency",
        "Server dry run: something the object needs is absent.",
    ),
    Code("HG221", "dry-run-forbidden", "Server dry run: RBAC refused the request."),
    Code("HG222", "dry-run-quota-exceeded", "Server dry run: a ResourceQuota refused the object."),
    Code(
        "HG223",
        "dry-run-policy-violation",
        "Server dry run: PodSecurity, a LimitRange, a webhook or a policy refused the object.",
    ),
    Code("HG224", "dry-run-invalid", "Server dry run: the object failed validation."),
    Code("HG225", "dry-run-conflict", "Server dry run: another field manager owns these fields."),
    Code(
        "HG226",
        "dry-run-escalation",
        "Server dry run: the object grants permissions the deployer does not hold.",
    ),
    Code("HG227", "dry-run-rejected", "Server dry run: the API server refused the object."),
    Code(
        "HG228",
        "not-verifiable-until",
        "The dry run can pass only once an earlier object of the chart exists.",
    ),
    Code("HG150", "satisfied-by-hook", "A reference is satisfied by an object a hook creates."),
    Code(
        "HG151", "created-at-run-time", "A reference is satisfied by an object created at run time."
    ),
)

CODES: dict[str, Code] = {c.code: c for c in _TABLE}
_BY_NAME: dict[str, Code] = {c.name: c for c in _TABLE}

# Missing-target codes by target kind; anything else is HG129 missing-object.
MISSING_CODES: dict[str, str] = {
    "ServiceAccount": "HG101",
    "ConfigMap": "HG102",
    "Secret": "HG103",
    "PersistentVolumeClaim": "HG105",
    "PriorityClass": "HG106",
    "RuntimeClass": "HG107",
    "StorageClass": "HG108",
    "PersistentVolume": "HG109",
    "Service": "HG110",
    "IngressClass": "HG111",
    "Role": "HG113",
    "ClusterRole": "HG114",
    "CustomResourceDefinition": "HG116",
    "Namespace": "HG117",
    "GatewayClass": "HG118",
    "Gateway": "HG119",
    "ResourceClaim": "HG120",
    "ResourceClaimTemplate": "HG120",
}


@dataclass(frozen=True)
class Finding:
    """One problem (or notable fact) about one object, with what Kubernetes will do."""

    code: str
    name: str
    severity: Severity
    object: ObjectRef
    path: str  # the field path in `object`, e.g. spec.template.spec.serviceAccountName
    message: str  # plain language: what is wrong
    predicted: str  # what Kubernetes will do, in the cluster's words
    fix: str  # how to fix it
    source: str = ""  # the chart template that produced `object`
    target: ObjectRef | None = None  # the referenced object, for reference findings

    @classmethod
    def make(
        cls,
        code: str,
        severity: Severity,
        obj: ObjectRef,
        path: str,
        message: str,
        predicted: str,
        fix: str,
        *,
        source: str = "",
        target: ObjectRef | None = None,
    ) -> Finding:
        """A finding whose name comes from the code table."""
        return cls(
            code, CODES[code].name, severity, obj, path, message, predicted, fix, source, target
        )
