"""The release's reference graph as the page draws it: waves, objects with status, edges.

Pure: built from a revision's stored plan and the release's stored statuses. A stored
plan holds object keys (`graph.order.plan_to_dict`: waves, and the edges each wave
needs); when it also holds object bodies (`objects`: manifests, Secrets redacted) every
by-name reference is drawn, including those to objects outside the release. A stored
status whose root cause lies outside the release adds the edge the cluster proved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helmguard.graph.refs import extract_refs
from helmguard.manifest import K8sObject, ObjectRef, kind_rank
from helmguard.status import State
from helmguard.store import ResourceRecord

# States that mean "this object cannot do its job": an edge into one is broken.
_BROKEN_TARGET = frozenset({State.MISSING.value})
_TROUBLE = frozenset({State.BLOCKED.value, State.FAILED.value})


@dataclass(frozen=True)
class GraphNode:
    """An object: its status (Unknown when nothing is stored) and the wave it belongs to.

    `wave` is None for objects outside the release (targets of references).
    """

    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime | None
    wave: int | None
    in_release: bool
    labels: Mapping[str, str]


@dataclass(frozen=True)
class GraphEdge:
    """A reference from `source` to `target` through `path`; `broken` edges carry why."""

    source: ObjectRef
    target: ObjectRef
    path: str
    optional: bool
    broken: bool
    message: str


@dataclass(frozen=True)
class Graph:
    """Waves (columns of object keys, in apply order), nodes and edges."""

    revision: int | None
    waves: tuple[tuple[ObjectRef, ...], ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]


def ref_from_json(value: Any) -> ObjectRef | None:
    """An ObjectRef from `{"group", "kind", "namespace", "name"}`; None for anything else."""
    if not isinstance(value, Mapping):
        return None
    kind, name = value.get("kind"), value.get("name")
    if not isinstance(kind, str) or not isinstance(name, str) or not kind or not name:
        return None
    return ObjectRef(str(value.get("group") or ""), kind, str(value.get("namespace") or ""), name)


def _plan_waves(plan: Mapping[str, Any]) -> list[list[ObjectRef]]:
    waves: list[list[ObjectRef]] = []
    for wave in plan.get("waves") or ():
        members = wave.get("objects") if isinstance(wave, Mapping) else wave
        refs = [r for r in (ref_from_json(m) for m in members or ()) if r is not None]
        waves.append(refs)
    return waves


def _plan_needs(plan: Mapping[str, Any]) -> list[tuple[ObjectRef, ObjectRef, str]]:
    """(dependent, dependency, why) for every ordering edge the plan recorded."""
    out: list[tuple[ObjectRef, ObjectRef, str]] = []
    for wave in plan.get("waves") or ():
        if not isinstance(wave, Mapping):
            continue
        for need in wave.get("needs") or ():
            if not isinstance(need, Mapping):
                continue
            before, after = ref_from_json(need.get("before")), ref_from_json(need.get("after"))
            if before is not None and after is not None:
                out.append((after, before, str(need.get("why") or "")))
    return out


def plan_objects(plan: Mapping[str, Any] | None) -> list[K8sObject]:
    """The object bodies a stored plan carries (none for a keys-only plan)."""
    if not plan:
        return []
    bodies = plan.get("objects") or ()
    return [
        K8sObject(body)
        for body in bodies
        if isinstance(body, Mapping)
        and body.get("kind")
        and isinstance(body.get("metadata"), Mapping)
    ]


def not_found_in(message: str, target: ObjectRef) -> bool:
    """True when `message` is the API server's NotFound wording for `target`."""
    return f'{target.kind.lower()} "{target.name}" not found' in message


def _rank_waves(refs: Iterable[ObjectRef]) -> list[list[ObjectRef]]:
    """Without a stored plan: one column per kind, in Helm's install order."""
    by_rank: dict[tuple[int, str], list[ObjectRef]] = {}
    for ref in refs:
        by_rank.setdefault((kind_rank(ref.kind), ref.kind), []).append(ref)
    return [sorted(by_rank[k]) for k in sorted(by_rank)]


def build_graph(
    plan: Mapping[str, Any] | None,
    resources: Sequence[ResourceRecord],
    *,
    revision: int | None = None,
) -> Graph:
    """The graph of a release from its latest plan (may be None) and its stored statuses.

    An edge is broken when its target is Missing, when the source's stored root cause is
    the target, or when the source's message is the API server's NotFound for the target;
    its message is then the source's (the cluster's words).
    """
    status = {r.ref: r for r in resources}
    objects = plan_objects(plan)
    waves = _plan_waves(plan) if plan else []
    if not any(waves):
        waves = _rank_waves({*status, *(o.ref for o in objects)})
    in_release: dict[ObjectRef, int] = {}
    for i, wave in enumerate(waves):
        for ref in wave:
            in_release.setdefault(ref, i)
    # Objects the store tracks but the plan does not list (e.g. a plan without waves).
    extra = sorted(r for r in status if r not in in_release and r.kind != "Pod")
    if extra:
        waves.append(extra)
        for ref in extra:
            in_release[ref] = len(waves) - 1
    labels = {o.ref: o.labels for o in objects}

    raw: dict[tuple[ObjectRef, ObjectRef], tuple[str, bool]] = {}
    for source, target, why in _plan_needs(plan or {}):
        raw.setdefault((source, target), (why, False))
    for reference in extract_refs(objects):
        if reference.implicit or reference.source == reference.target:
            continue
        raw.setdefault((reference.source, reference.target), (reference.path, reference.optional))
    for record in resources:
        cause = record.root_cause
        if cause is not None and cause != record.ref and cause not in in_release:
            raw.setdefault((record.ref, cause), ("root cause", False))

    edges: list[GraphEdge] = []
    outside: dict[ObjectRef, bool] = {}
    for (source, target), (path, optional) in sorted(raw.items()):
        if source not in in_release:
            continue
        src = status.get(source)
        dst = status.get(target)
        message = src.message if src is not None else ""
        broken = (
            (dst is not None and dst.state in _BROKEN_TARGET)
            or (src is not None and src.root_cause == target and src.state in _TROUBLE)
            or (src is not None and src.state in _TROUBLE and not_found_in(message, target))
        )
        if dst is None and target not in in_release:
            outside[target] = outside.get(target, False) or broken
        edges.append(GraphEdge(source, target, path, optional, broken, message if broken else ""))

    nodes: list[GraphNode] = []
    for ref, column in sorted(in_release.items(), key=lambda kv: (kv[1], kv[0])):
        nodes.append(_node(ref, status.get(ref), column, True, labels.get(ref, {})))
    for ref, missing in sorted(outside.items()):
        rec = status.get(ref)
        if rec is None and missing:
            nodes.append(
                GraphNode(
                    ref,
                    State.MISSING.value,
                    "NotFound",
                    f"{ref} does not exist",
                    None,
                    None,
                    False,
                    {},
                )
            )
        else:
            nodes.append(_node(ref, rec, None, False, {}))
    return Graph(revision, tuple(tuple(w) for w in waves), tuple(nodes), tuple(edges))


def _node(
    ref: ObjectRef,
    rec: ResourceRecord | None,
    wave: int | None,
    in_release: bool,
    labels: Mapping[str, str],
) -> GraphNode:
    if rec is None:
        why = "not observed yet" if in_release else "outside the release; not observed"
        return GraphNode(
            ref, State.UNKNOWN.value, "NotObserved", why, None, wave, in_release, labels
        )
    return GraphNode(
        ref, rec.state, rec.reason, rec.message, rec.since, wave, in_release, dict(labels)
    )
