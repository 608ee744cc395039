"""The `kinds` fixture objects and a one-call evaluator for the per-kind tests."""

from __future__ import annotations

from collections.abc import Sequence

from helmguard.manifest import K8sObject
from helmguard.status import Observed, ResourceStatus, evaluate
from status.helpers import at, load, named

OBJECTS = load("kinds")
NOW = at("2025-06-01T10:05:00Z")


def obj(kind: str) -> K8sObject:
    return named(OBJECTS, kind)


def run(
    target: K8sObject,
    children: Sequence[K8sObject] = (),
    events: Sequence[K8sObject] = (),
    nodes: Sequence[K8sObject] | None = None,
) -> ResourceStatus:
    return evaluate(Observed(target, NOW, children, events, nodes))
