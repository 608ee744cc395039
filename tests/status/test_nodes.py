"""Daemon pod placement: the recorded kwok Node with labels and taints set per case.

The agreement with the real DaemonSet controller is checked on the sandbox
(test_placement_sandbox.py); these cases say what each rule means, one at a time.
"""

from __future__ import annotations

from typing import Any

from helmguard.manifest import K8sObject
from helmguard.status.nodes import daemon_misfit, daemon_nodes
from status.helpers import edited, load, named

NODE = named(load("fresh"), "Node")


def node(name: str = "n1", labels: dict[str, str] | None = None, **spec: Any) -> K8sObject:
    return edited(
        NODE,
        metadata__name=name,
        metadata__labels={"kubernetes.io/hostname": name, **(labels or {})},
        spec={**NODE.spec, **spec},
    )


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    terms_ = {"nodeSelectorTerms": list(terms)}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms_}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


def test_recorded_node_takes_a_plain_daemon_pod() -> None:
    assert NODE.kind == "Node" and daemon_misfit({}, NODE) is None


def test_node_selector_names_the_pairs_that_do_not_match() -> None:
    ssd = node(labels={"disk": "ssd"})
    assert daemon_misfit({"nodeSelector": {"disk": "ssd"}}, ssd) is None
    assert daemon_misfit({"nodeSelector": {"disk": "hdd", "zone": "a"}}, ssd) == (
        "nodeSelector disk=hdd, zone=a"
    )


def test_required_affinity_operators() -> None:
    n = node(labels={"pool": "blue", "size": "16", "tier": "x1"})

    def fits(*exprs: dict[str, Any]) -> bool:
        return daemon_misfit({"affinity": required({"matchExpressions": list(exprs)})}, n) is None

    assert fits(expr("pool", "In", "blue", "green"))
    assert not fits(expr("pool", "In", "green"))
    assert fits(expr("pool", "NotIn", "green")) and fits(expr("absent", "NotIn", "x"))
    assert not fits(expr("pool", "NotIn", "blue"))
    assert fits(expr("size", "Exists")) and not fits(expr("absent", "Exists"))
    assert fits(expr("absent", "DoesNotExist")) and not fits(expr("size", "DoesNotExist"))
    assert fits(expr("size", "Gt", "8")) and not fits(expr("size", "Lt", "8"))
    assert not fits(expr("tier", "Gt", "0"))  # not an integer: never greater
    assert not fits(expr("pool", "In", "blue"), expr("size", "Lt", "8"))  # ANDed
    assert not fits(expr("pool", "Bogus", "blue"))  # unparseable term matches nothing


def test_terms_are_ored_and_fields_name_the_node() -> None:
    n = node("worker-2", {"pool": "blue"})
    by_name = {"matchFields": [expr("metadata.name", "In", "worker-2")]}
    other = {"matchExpressions": [expr("pool", "In", "green")]}
    assert daemon_misfit({"affinity": required(other, by_name)}, n) is None
    assert daemon_misfit({"affinity": required(other)}, n) == (
        "required node affinity "
        "(affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)"
    )
    not_me = {"matchFields": [expr("metadata.name", "NotIn", "worker-2")]}
    assert daemon_misfit({"affinity": required(not_me)}, n) is not None
    assert daemon_misfit({"affinity": required({})}, n) is not None  # empty term: nothing


def test_taints_against_tolerations_and_the_daemon_defaults() -> None:
    gpu = node(taints=[{"key": "gpu", "value": "a100", "effect": "NoSchedule"}])
    assert daemon_misfit({}, gpu) == "untolerated taint gpu=a100:NoSchedule"
    for toleration in (
        {"key": "gpu", "operator": "Exists"},
        {"key": "gpu", "value": "a100", "effect": "NoSchedule"},
        {"operator": "Exists"},
    ):
        assert daemon_misfit({"tolerations": [toleration]}, gpu) is None, toleration
    for toleration in (
        {"key": "gpu", "value": "h100"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"},
        {"key": "gpu", "operator": "Gt", "value": "1"},  # comparison operators are gated off
    ):
        assert daemon_misfit({"tolerations": [toleration]}, gpu) is not None, toleration
    soft = node(taints=[{"key": "noisy", "effect": "PreferNoSchedule"}])
    assert daemon_misfit({}, soft) is None
    cordoned = node(taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    assert daemon_misfit({}, cordoned) is None  # every daemon pod tolerates it
    no_net = node(
        taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]
    )
    assert daemon_misfit({}, no_net) is not None
    assert daemon_misfit({"hostNetwork": True}, no_net) is None


def test_node_name_pins_the_pod() -> None:
    assert daemon_misfit({"nodeName": "n1"}, node("n1")) is None
    assert daemon_misfit({"nodeName": "n2"}, node("n1")) == "nodeName n2"


def test_excluded_nodes_are_grouped_by_reason() -> None:
    nodes = [node("a", {"os": "linux"}), node("b"), node("c")]
    fitting, excluded = daemon_nodes({"nodeSelector": {"os": "linux"}}, nodes)
    assert [n.name for n in fitting] == ["a"]
    assert excluded == {"nodeSelector os=linux": ["b", "c"]}
