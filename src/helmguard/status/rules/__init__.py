"""The status table: (API group, kind) -> rule. Adding a kind = a module and a row here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from helmguard.status.fields import parse_time
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.apiservice import apiservice
from helmguard.status.rules.common import result
from helmguard.status.rules.crd import crd
from helmguard.status.rules.cronjob import cronjob
from helmguard.status.rules.daemonset import daemonset
from helmguard.status.rules.deployment import deployment
from helmguard.status.rules.exists import exists
from helmguard.status.rules.generic import generic
from helmguard.status.rules.hpa import hpa
from helmguard.status.rules.ingress import ingress
from helmguard.status.rules.job import job
from helmguard.status.rules.namespace import namespace
from helmguard.status.rules.pod import pod
from helmguard.status.rules.pvc import pvc
from helmguard.status.rules.replicaset import replicaset
from helmguard.status.rules.service import service
from helmguard.status.rules.statefulset import statefulset

Rule = Callable[[Observed], ResourceStatus]

RULES: Mapping[tuple[str, str], Rule] = {
    ("apps", "Deployment"): deployment,
    ("apps", "ReplicaSet"): replicaset,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("", "Pod"): pod,
    ("batch", "Job"): job,
    ("batch", "CronJob"): cronjob,
    ("", "PersistentVolumeClaim"): pvc,
    ("", "Service"): service,
    ("networking.k8s.io", "Ingress"): ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd,
    ("", "Namespace"): namespace,
    ("apiregistration.k8s.io", "APIService"): apiservice,
    # Kinds without a status of their own: present is Ready ("Exists"), absent is Missing.
    ("", "ConfigMap"): exists,
    ("", "Secret"): exists,
    ("", "ServiceAccount"): exists,
    ("", "LimitRange"): exists,
    ("networking.k8s.io", "NetworkPolicy"): exists,
    ("networking.k8s.io", "IngressClass"): exists,
    ("rbac.authorization.k8s.io", "Role"): exists,
    ("rbac.authorization.k8s.io", "RoleBinding"): exists,
    ("rbac.authorization.k8s.io", "ClusterRole"): exists,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): exists,
    ("scheduling.k8s.io", "PriorityClass"): exists,
    ("storage.k8s.io", "StorageClass"): exists,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): exists,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): exists,
}


def evaluate(observed: Observed) -> ResourceStatus:
    """The status of the observed object: Terminating once deletion is requested, else its rule."""
    obj = observed.obj
    meta = obj.metadata
    deleted = meta.get("deletionTimestamp")
    if deleted and obj.kind != "Namespace":
        finalizers = meta.get("finalizers") or ()
        message = "deletion requested" + (
            f"; waiting for finalizers: {', '.join(finalizers)}" if finalizers else ""
        )
        return result(observed, State.TERMINATING, "Deleting", message, parse_time(deleted))
    ref = obj.ref
    return RULES.get((ref.group, ref.kind), generic)(observed)


__all__ = ["RULES", "Rule", "evaluate"]
