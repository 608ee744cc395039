"""Which nodes a DaemonSet's pods may run on, decided as the DaemonSet controller does.

Kubernetes v1.37 `NodeShouldRunDaemonPod` (pkg/controller/daemon): the template's nodeName,
its nodeSelector and required node affinity (component-helpers nodeaffinity), and its
tolerations plus the ones every daemon pod gets against the node's NoSchedule and
NoExecute taints. Pure: nodes are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from helmguard.manifest import K8sObject

# util.AddOrUpdateDaemonPodTolerations: (key, effect), operator Exists.
_DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
_AFFINITY_PATH = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
# apimachinery validation.IsValidLabelValue: what labels.NewRequirement accepts as a value.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class _ParseError(Exception):
    """A node selector term Kubernetes cannot parse: that term matches no node."""


def _tolerations(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tolerations = [t for t in spec.get("tolerations") or () if isinstance(t, Mapping)]
    defaults = list(_DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        defaults.append(_HOST_NETWORK_TOLERATION)
    return tolerations + [{"key": k, "operator": "Exists", "effect": e} for k, e in defaults]


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """core/v1 Toleration.ToleratesTaint, comparison operators off (their gate is alpha)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return str(toleration.get("value") or "") == str(taint.get("value") or "")
    return False


def _integer(text: str) -> int:
    if not _INTEGER.match(text):
        raise _ParseError(text)
    return int(text)


def _label_requirement(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """labels.Requirement.Matches for a NodeSelectorRequirement; _ParseError if invalid."""
    key = str(expr.get("key") or "")
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or ()]
    if not key:
        raise _ParseError("empty key")
    present = key in labels
    if op in ("In", "NotIn"):
        if not values or not all(len(v) <= 63 and _LABEL_VALUE.match(v) for v in values):
            raise _ParseError(f"{op} needs valid values")
        inside = present and labels[key] in values
        return inside if op == "In" else not inside
    if op in ("Exists", "DoesNotExist"):
        if values:
            raise _ParseError(f"{op} takes no values")
        return present if op == "Exists" else not present
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            raise _ParseError(f"{op} needs one value")
        bound = _integer(values[0])
        if not present:
            return False
        try:
            value = _integer(labels[key])
        except _ParseError:
            return False
        return value > bound if op == "Gt" else value < bound
    raise _ParseError(f"operator {op!r}")


def _field_requirement(expr: Mapping[str, Any], name: str) -> bool:
    """A matchFields requirement: only In/NotIn with one value; nodes offer metadata.name."""
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or ()]
    if op not in ("In", "NotIn") or len(values) != 1:
        raise _ParseError(f"matchFields {op!r}")
    actual = name if expr.get("key") == "metadata.name" else ""
    return (actual == values[0]) if op == "In" else (actual != values[0])


def _term_matches(term: Mapping[str, Any], node: K8sObject) -> bool:
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    try:
        labels = {str(k): str(v) for k, v in node.labels.items()}
        if expressions and not all(_label_requirement(e, labels) for e in expressions):
            return False
        return not fields or all(_field_requirement(f, node.name) for f in fields)
    except _ParseError:
        return False


def _affinity_matches(required: Mapping[str, Any], node: K8sObject) -> bool:
    # Empty terms are skipped; with no term left nothing matches.
    terms = [
        t
        for t in required.get("nodeSelectorTerms") or ()
        if isinstance(t, Mapping) and (t.get("matchExpressions") or t.get("matchFields"))
    ]
    return any(_term_matches(t, node) for t in terms)


def _describe_taint(taint: Mapping[str, Any]) -> str:
    value = taint.get("value")
    return f"{taint.get('key')}{'=' + str(value) if value else ''}:{taint.get('effect')}"


def daemon_misfit(template_spec: Mapping[str, Any], node: K8sObject) -> str | None:
    """Why a daemon pod of this pod template may not run on `node`; None when it may.

    The reason names the field that excludes the node, e.g. `nodeSelector
    disktype=ssd` or `untolerated taint dedicated=gpu:NoSchedule`.
    """
    node_name = template_spec.get("nodeName")
    if node_name and node_name != node.name:
        return f"nodeName {node_name}"
    labels = node.labels
    selector = template_spec.get("nodeSelector") or {}
    wrong = [f"{k}={v}" for k, v in selector.items() if str(labels.get(k, "\0")) != str(v)]
    if wrong:
        return f"nodeSelector {', '.join(sorted(wrong))}"
    affinity = (template_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, Mapping) and not _affinity_matches(required, node):
        return f"required node affinity ({_AFFINITY_PATH})"
    tolerations = _tolerations(template_spec)
    for taint in node.spec.get("taints") or ():
        if taint.get("effect") not in _BLOCKING_EFFECTS:
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return f"untolerated taint {_describe_taint(taint)}"
    return None


def daemon_nodes(
    template_spec: Mapping[str, Any], nodes: Sequence[K8sObject]
) -> tuple[list[K8sObject], dict[str, list[str]]]:
    """The nodes a daemon pod may run on, and the excluded ones grouped by reason."""
    fitting: list[K8sObject] = []
    excluded: dict[str, list[str]] = {}
    for node in nodes:
        why = daemon_misfit(template_spec, node)
        if why is None:
            fitting.append(node)
        else:
            excluded.setdefault(why, []).append(node.name)
    return fitting, excluded
