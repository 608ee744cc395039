"""Install and uninstall order: Helm's kind order refined by the reference graph, as waves.

One file past 400 lines: Helm's kind order, the reference waves, hooks and the uninstall
order share one Plan and its ordering keys.

`build_plan` takes a rendered release (objects, hooks, CRDs from `crds/`) and returns a
`Plan`: the objects in waves, where an object's wave is one more than the deepest wave
of anything in the chart it depends on. Dependencies are the by-name references
(`graph.refs`: a workload after its ServiceAccount, ConfigMaps, Secrets, PVCs; a binding
after its Role and ServiceAccount subject; a custom resource after its CRD; a namespaced
object after its Namespace) plus a few structural rules (webhook configurations after
the workloads behind their Service; pods after the ResourceQuota and LimitRange of their
namespace; `helmguard.io/wait-for`). Objects with no order between them share a wave;
inside a wave they are listed in Helm's install order, then by name. Cycles are broken
deterministically and reported. Hooks follow Helm: for an operation, its pre-hooks run
before the waves and its post-hooks after, each list by weight then name.

Pure: no I/O. `deploy/` executes a Plan; it never re-derives the order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helmguard.graph.refs import extract_refs, pod_labels, service_selects
from helmguard.manifest import K8sObject, ObjectRef, kind_rank

WAIT_FOR_ANNOTATION = "helmguard.io/wait-for"
_WEBHOOK_KINDS = frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})
# Admission applies these to pods created after them only, so pods must come later.
_POD_ADMISSION_KINDS = frozenset({"ResourceQuota", "LimitRange"})

INSTALL_OPERATIONS = ("install", "upgrade", "rollback", "delete")


def _helm_key(ref: ObjectRef) -> tuple[int, str, str, str, str]:
    return (kind_rank(ref.kind), ref.kind, ref.group, ref.namespace, ref.name)


@dataclass(frozen=True, order=True)
class Edge:
    """`after` must be applied after `before` is established; `why` names the field or rule."""

    before: ObjectRef
    after: ObjectRef
    why: str


@dataclass(frozen=True)
class CycleBreak:
    """A dependency cycle among `members`, broken by ignoring `dropped` edges."""

    members: tuple[ObjectRef, ...]
    dropped: tuple[Edge, ...]

    def describe(self) -> str:
        """One line a person can act on: which objects form the cycle, which edge was ignored."""
        cycle = ", ".join(str(m) for m in self.members)
        ignored = "; ".join(f"{e.after} after {e.before} ({e.why})" for e in self.dropped)
        return f"dependency cycle among {cycle}: ignored {ignored}"


@dataclass(frozen=True)
class Wave:
    """Objects applied together; every one of `needs` must be established before it starts."""

    index: int
    objects: tuple[K8sObject, ...]
    needs: tuple[Edge, ...]  # edges from earlier waves into this one

    @property
    def refs(self) -> tuple[ObjectRef, ...]:
        return tuple(o.ref for o in self.objects)


@dataclass(frozen=True)
class HookStep:
    """A hook object run at `event`, in Helm's order (weight, name, kind)."""

    obj: K8sObject
    event: str
    weight: int
    delete_policies: tuple[str, ...]

    @property
    def policies(self) -> tuple[str, ...]:
        return policies_in_effect(self.delete_policies)


def policies_in_effect(delete_policies: Sequence[str]) -> tuple[str, ...]:
    """A hook's delete policies: Helm defaults to before-hook-creation when none is set."""
    return tuple(delete_policies) or ("before-hook-creation",)


@dataclass(frozen=True)
class Plan:
    """The order a release's objects are applied in, with hooks around it."""

    operation: str
    waves: tuple[Wave, ...]
    pre_hooks: tuple[HookStep, ...]
    post_hooks: tuple[HookStep, ...]
    edges: tuple[Edge, ...]
    cycles: tuple[CycleBreak, ...]
    # CRDs from the chart's crds/ folder: created if missing, never updated or deleted (Helm).
    chart_crds: frozenset[ObjectRef] = frozenset()

    @property
    def objects(self) -> tuple[K8sObject, ...]:
        """Every object of the waves, in apply order."""
        return tuple(o for w in self.waves for o in w.objects)

    def wave_of(self, ref: ObjectRef) -> int | None:
        for wave in self.waves:
            if ref in wave.refs:
                return wave.index
        return None


def _structural_edges(
    objects: Sequence[K8sObject], index: Mapping[ObjectRef, K8sObject]
) -> list[Edge]:
    """Order that no single field spells out but Kubernetes needs."""
    edges: list[Edge] = []
    workloads = [(o, labels) for o in objects if (labels := pod_labels(o)) is not None]
    services = {o.ref: o for o in objects if o.kind == "Service" and o.ref.group == ""}
    for obj in objects:
        if obj.kind in _WEBHOOK_KINDS:
            # The webhook answers only once the pods behind its Service run.
            for i, hook in enumerate(obj.body.get("webhooks") or ()):
                svc = ((hook or {}).get("clientConfig") or {}).get("service") or {}
                target = ObjectRef(
                    "", "Service", str(svc.get("namespace") or ""), str(svc.get("name") or "")
                )
                service = services.get(target)
                if service is None:
                    continue
                selector = service.spec.get("selector") or {}
                for workload, labels in workloads:
                    if workload.namespace == service.namespace and service_selects(
                        selector, labels
                    ):
                        edges.append(
                            Edge(workload.ref, obj.ref, f"webhooks[{i}] served by {workload.ref}")
                        )
        if obj.kind in _POD_ADMISSION_KINDS and obj.ref.group == "":
            for workload, _ in workloads:
                if workload.namespace == obj.namespace:
                    edges.append(Edge(obj.ref, workload.ref, f"{obj.kind} admission of pods"))
        wait_for = obj.annotations.get(WAIT_FOR_ANNOTATION)
        if wait_for:
            for target_ref in parse_wait_for(obj, str(wait_for), index):
                edges.append(
                    Edge(target_ref, obj.ref, f"metadata.annotations[{WAIT_FOR_ANNOTATION}]")
                )
    return edges


def parse_wait_for(
    obj: K8sObject, value: str, index: Mapping[ObjectRef, K8sObject]
) -> list[ObjectRef]:
    """The chart objects a `helmguard.io/wait-for: Kind/name, Kind/name` annotation names.

    Names resolve in `obj`'s namespace; `Kind/namespace/name` names another namespace.
    Entries that match no chart object are ignored (the gate cannot wait for them).
    """
    found: list[ObjectRef] = []
    for entry in value.split(","):
        parts = [p.strip() for p in entry.strip().split("/")]
        if len(parts) == 2:
            kind, ns, name = parts[0], obj.namespace, parts[1]
        elif len(parts) == 3:
            kind, ns, name = parts
        else:
            continue
        for ref in index:
            if ref.kind == kind and ref.name == name and ref.namespace in (ns, ""):
                found.append(ref)
                break
    return found


def dependency_edges(objects: Sequence[K8sObject], *, crds: Sequence[K8sObject] = ()) -> list[Edge]:
    """Every ordering constraint between `objects` (and `crds`), deduplicated, sorted."""
    everything = [*crds, *objects]
    index = {o.ref: o for o in everything}
    edges: set[Edge] = set()
    for ref in extract_refs(everything):
        if ref.target in index and ref.target != ref.source:
            edges.add(Edge(ref.target, ref.source, ref.path))
    for edge in _structural_edges(everything, index):
        if edge.before != edge.after:
            edges.add(edge)
    # One edge per (before, after) pair: the first field path in sort order explains it.
    unique: dict[tuple[ObjectRef, ObjectRef], Edge] = {}
    for edge in sorted(edges):
        unique.setdefault((edge.before, edge.after), edge)
    return list(unique.values())


def _strongly_connected(
    nodes: Sequence[ObjectRef], succ: Mapping[ObjectRef, set[ObjectRef]]
) -> list[list[ObjectRef]]:
    """Tarjan's SCCs, iteratively (charts can be large), in a deterministic order."""
    index_of: dict[ObjectRef, int] = {}
    low: dict[ObjectRef, int] = {}
    on_stack: set[ObjectRef] = set()
    stack: list[ObjectRef] = []
    out: list[list[ObjectRef]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[ObjectRef, list[ObjectRef]]] = [(root, sorted(succ.get(root, ())))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in index_of:
                    index_of[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(succ.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index_of[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component: list[ObjectRef] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component, key=_helm_key))
    return out


def _break_cycles(
    nodes: Sequence[ObjectRef], edges: list[Edge]
) -> tuple[list[Edge], list[CycleBreak]]:
    """Drop the fewest edges (deterministically) until the graph is acyclic.

    In each cycle, the member that comes first in Helm's install order keeps its place:
    the edges into it from the other members are ignored, as Helm would apply it first.
    """
    kept = list(edges)
    breaks: list[CycleBreak] = []
    while True:
        succ: dict[ObjectRef, set[ObjectRef]] = defaultdict(set)
        for e in kept:
            succ[e.before].add(e.after)
        cyclic = [c for c in _strongly_connected(nodes, succ) if len(c) > 1]
        if not cyclic:
            return kept, breaks
        for component in cyclic:
            members = set(component)
            first = component[0]
            dropped = tuple(sorted(e for e in kept if e.after == first and e.before in members))
            kept = [e for e in kept if e not in dropped]
            breaks.append(CycleBreak(tuple(component), dropped))


def hook_steps(hooks: Iterable[Any], event: str) -> tuple[HookStep, ...]:
    """The hooks that run at `event`, in Helm's order (pkg/action/hooks.go execHook).

    Helm sorts hooks stably by kind (InstallOrder, unknown kinds last and alphabetically)
    when it renders them, then stably by weight and metadata.name: so weight first, then
    name, then kind, then the order the chart renders them in.
    """
    steps = [
        HookStep(h.obj, event, int(h.weight), tuple(h.delete_policies))
        for h in hooks
        if event in tuple(h.events)
    ]
    steps.sort(key=lambda s: (s.weight, s.obj.name, kind_rank(s.obj.kind), s.obj.kind))
    return tuple(steps)


def build_plan(
    objects: Sequence[K8sObject],
    *,
    hooks: Iterable[Any] = (),
    crds: Sequence[K8sObject] = (),
    operation: str = "install",
) -> Plan:
    """The waves and hooks for applying `objects` (a rendered release) in `operation`.

    `hooks` are `chart.render.Hook`s (anything with obj, events, weight,
    delete_policies); `crds` come from the chart's crds/ folder and join the first
    waves they can. `operation` is install, upgrade or rollback (which pre-/post-
    hooks run). Raises ValueError for an unknown operation or a duplicated object.
    """
    if operation not in INSTALL_OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; use one of {INSTALL_OPERATIONS}")
    templated = {o.ref for o in objects}
    # A CRD both in crds/ and templates/: the templated one is managed like any object.
    from_crds = [c for c in crds if c.ref not in templated]
    chart_crds = {c.ref for c in from_crds}
    seen: set[ObjectRef] = set()
    everything: list[K8sObject] = []
    for obj in [*from_crds, *objects]:
        if obj.ref in seen:
            raise ValueError(f"{obj.ref} is rendered twice (from {obj.source or 'the chart'})")
        seen.add(obj.ref)
        everything.append(obj)
    nodes = sorted(seen, key=_helm_key)
    edges, cycles = _break_cycles(nodes, dependency_edges(everything))
    preds: dict[ObjectRef, list[Edge]] = defaultdict(list)
    for e in edges:
        preds[e.after].append(e)
    depth: dict[ObjectRef, int] = {}

    def depth_of(ref: ObjectRef) -> int:
        # Iterative longest path: the graph is acyclic now.
        pending = [ref]
        while pending:
            node = pending[-1]
            missing = [e.before for e in preds[node] if e.before not in depth]
            if missing:
                pending.extend(missing)
                continue
            pending.pop()
            depth[node] = 1 + max((depth[e.before] for e in preds[node]), default=-1)
        return depth[ref]

    by_ref = {o.ref: o for o in everything}
    grouped: dict[int, list[K8sObject]] = defaultdict(list)
    for ref in nodes:
        grouped[depth_of(ref)].append(by_ref[ref])
    waves: list[Wave] = []
    for i in sorted(grouped):
        members = sorted(grouped[i], key=lambda o: _helm_key(o.ref))
        refs = {o.ref for o in members}
        needs = tuple(sorted(e for e in edges if e.after in refs))
        waves.append(Wave(len(waves), tuple(members), needs))
    hooks = list(hooks)
    if operation == "delete":
        pre, post = hook_steps(hooks, "pre-delete"), hook_steps(hooks, "post-delete")
    else:
        pre, post = hook_steps(hooks, f"pre-{operation}"), hook_steps(hooks, f"post-{operation}")
    return Plan(
        operation=operation,
        waves=tuple(waves),
        pre_hooks=pre,
        post_hooks=post,
        edges=tuple(sorted(edges)),
        cycles=tuple(cycles),
        chart_crds=frozenset(chart_crds),
    )


def uninstall_order(plan: Plan) -> tuple[tuple[K8sObject, ...], ...]:
    """Waves to delete in: the install waves reversed, each in reverse Helm order."""
    return tuple(tuple(reversed(w.objects)) for w in reversed(plan.waves))


def _ref_json(ref: ObjectRef) -> dict[str, str]:
    return {"group": ref.group, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data (object keys only, never bodies: Secrets stay out)."""

    def hook(step: HookStep) -> dict[str, Any]:
        return {
            **_ref_json(step.obj.ref),
            "event": step.event,
            "weight": step.weight,
            "deletePolicies": list(step.policies),
        }

    return {
        "operation": plan.operation,
        "preHooks": [hook(h) for h in plan.pre_hooks],
        "waves": [
            {
                "wave": w.index,
                "objects": [_ref_json(o.ref) for o in w.objects],
                "needs": [
                    {"before": _ref_json(e.before), "after": _ref_json(e.after), "why": e.why}
                    for e in w.needs
                ],
            }
            for w in plan.waves
        ],
        "postHooks": [hook(h) for h in plan.post_hooks],
        "cycles": [
            {
                "members": [_ref_json(m) for m in c.members],
                "ignored": [
                    {"before": _ref_json(e.before), "after": _ref_json(e.after), "why": e.why}
                    for e in c.dropped
                ],
            }
            for c in plan.cycles
        ],
        "chartCrds": [_ref_json(r) for r in sorted(plan.chart_crds)],
    }


def plan_to_text(plan: Plan) -> str:
    """A human-readable listing: hooks, then one block per wave with what it waits for."""
    lines: list[str] = []
    for step in plan.pre_hooks:
        lines.append(f"hook {step.event} (weight {step.weight}): {step.obj.ref}")
    for wave in plan.waves:
        lines.append(f"wave {wave.index}: {len(wave.objects)} object(s)")
        for obj in wave.objects:
            tag = " (crds/, created only if missing)" if obj.ref in plan.chart_crds else ""
            lines.append(f"  {obj.ref}{tag}")
        befores = sorted({e.before for e in wave.needs}, key=_helm_key)
        if befores:
            lines.append("  after: " + ", ".join(str(b) for b in befores))
    for step in plan.post_hooks:
        lines.append(f"hook {step.event} (weight {step.weight}): {step.obj.ref}")
    for cycle in plan.cycles:
        lines.append(f"warning: {cycle.describe()}")
    return "\n".join(lines) + "\n"
