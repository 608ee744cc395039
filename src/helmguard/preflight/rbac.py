"""RBAC preflight: may the deployer do everything the deploy will do? Asked, never guessed.

One file past 400 lines: the permissions each object and hook needs form one table, asked in
one batch of reviews.

Every permission is a SelfSubjectAccessReview (authoritative: every authorizer answers),
deduplicated and sent concurrently. What is asked:

- for each object (hooks included): get, create, patch (server-side apply), list and
  watch (the status sync), delete (prune; hooks' delete policies) on its group/resource
  in its namespace; for the release records: Secrets in the release namespace;
- for each Role/ClusterRole of the chart: `escalate` on it, else every permission in its
  rules (Kubernetes refuses a role granting what its author does not hold);
- for each binding of the chart: `bind` on the role it names, else every permission of
  that role's rules, the role taken from the chart when the chart defines it.

`required_permissions` and `rule_permissions` are pure; `review` talks to the cluster.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helmguard.graph.refs import RBAC_GROUP
from helmguard.kube.classifier import retry
from helmguard.kube.discovery import APIResource, ServedResources
from helmguard.kube.errors import KubeError
from helmguard.manifest import CLUSTER_SCOPED_KINDS, K8sObject, ObjectRef
from helmguard.preflight.findings import Finding, Severity
from helmguard.preflight.resolve import resource_of

if TYPE_CHECKING:
    from helmguard.kube.client import Kube

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
APPLY_VERBS = ("get", "create", "patch")
SYNC_VERBS = ("list", "watch")
PRUNE_VERBS = ("delete",)
# Reviews in flight at once: SSARs are cheap for the server, latency is what costs.
_CONCURRENCY = 32


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource (or non-resource URL) in one namespace ("" = cluster scope)."""

    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    path: str = ""  # a non-resource URL (ClusterRole rules only)

    def __str__(self) -> str:
        if self.path:
            return f"{self.verb} {self.path}"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        what = f"{what}.{self.group}" if self.group else what
        if self.name:
            what = f"{what} {self.name!r}"
        where = f"namespace {self.namespace}" if self.namespace else "cluster scope"
        return f"{self.verb} {what} in {where}"

    def review(self) -> dict[str, Any]:
        """The SelfSubjectAccessReview that asks for this permission."""
        spec: dict[str, Any]
        if self.path:
            spec = {"nonResourceAttributes": {"path": self.path, "verb": self.verb}}
        else:
            attrs = {
                "verb": self.verb,
                "group": self.group,
                "resource": self.resource,
                "namespace": self.namespace,
                "name": self.name,
                "subresource": self.subresource,
            }
            spec = {"resourceAttributes": {k: v for k, v in attrs.items() if v}}
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": spec,
        }


@dataclass(frozen=True)
class Identity:
    """Who the deployer is, as the API server sees it (SelfSubjectReview)."""

    username: str
    groups: tuple[str, ...] = ()

    def __str__(self) -> str:
        groups = ", ".join(g for g in self.groups if g != "system:authenticated")
        return f"{self.username} (groups: {groups})" if groups else self.username


@dataclass(frozen=True)
class PermissionCheck:
    """The answer for one permission, and what in the deploy needs it."""

    permission: Permission
    allowed: bool
    reason: str  # the authorizer's reason or evaluation error, verbatim
    needed_for: str  # e.g. "apply Deployment apps/x" (the first need, for the table)
    objects: tuple[ObjectRef, ...] = ()


@dataclass(frozen=True)
class RbacReport:
    """The RBAC preflight: identity, every permission asked, and the findings."""

    identity: Identity
    checks: tuple[PermissionCheck, ...]
    findings: tuple[Finding, ...]
    requests: int

    def denied(self) -> tuple[PermissionCheck, ...]:
        return tuple(c for c in self.checks if not c.allowed)

    def allows(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        """Whether an (unnamed) deploy permission was granted; True when it was not asked."""
        for c in self.checks:
            p = c.permission
            if (p.verb, p.group, p.resource, p.namespace, p.name) == (
                verb,
                group,
                resource,
                namespace,
                "",
            ):
                return c.allowed
        return True


def resource_for(obj: K8sObject, served: ServedResources | None) -> tuple[str, bool]:
    """(plural resource, namespaced) of `obj`'s kind: discovery first, Kubernetes' guess else."""
    res = served.for_kind(obj.ref.group, obj.kind) if served is not None else None
    if res is not None:
        return res.plural, res.namespaced
    return resource_of(obj.kind), obj.kind not in CLUSTER_SCOPED_KINDS


Needs = dict[Permission, list[tuple[ObjectRef, str]]]


def required_permissions(
    objects: Iterable[K8sObject],
    *,
    hooks: Iterable[K8sObject] = (),
    served: ServedResources | None = None,
    release_namespace: str = "",
    create_namespace: bool = False,
    prune: bool = True,
    sync: bool = True,
) -> Needs:
    """Every permission a deploy of these objects needs, with the objects needing each (pure)."""
    needs: Needs = defaultdict(list)

    def need(obj: K8sObject, verbs: Iterable[str], why: str) -> None:
        resource, namespaced = resource_for(obj, served)
        ns = obj.namespace if namespaced else ""
        for verb in verbs:
            needs[Permission(verb, obj.ref.group, resource, ns)].append((obj.ref, why))

    for obj in objects:
        need(obj, APPLY_VERBS, f"apply {obj.ref}")
        if sync:
            need(obj, SYNC_VERBS, f"watch the status of {obj.ref}")
        if prune:
            need(obj, PRUNE_VERBS, f"prune {obj.ref} once the chart drops it")
    for hook in hooks:
        need(hook, (*APPLY_VERBS, "delete"), f"run hook {hook.ref}")
        if sync:
            need(hook, SYNC_VERBS, f"wait for hook {hook.ref}")
    if release_namespace:
        record = ObjectRef("", "Secret", release_namespace, "")
        for verb in ("get", "list", "create", "patch"):
            needs[Permission(verb, "", "secrets", release_namespace)].append(
                (record, "keep the release records (Secrets) in the release namespace")
            )
        if create_namespace:
            ns = ObjectRef("", "Namespace", "", release_namespace)
            needs[Permission("create", "", "namespaces")].append((ns, "--create-namespace"))
    return dict(needs)


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def rule_permissions(rules: Any, namespace: str) -> list[Permission]:
    """The single-verb, single-resource permissions a role's rules grant in `namespace` (pure).

    resourceNames become named permissions; `resource/sub` a subresource; nonResourceURLs
    (ClusterRoles only) path permissions. Wildcards are asked as wildcards.
    """
    out: list[Permission] = []
    for rule in rules if isinstance(rules, list) else ():
        if not isinstance(rule, dict):
            continue
        verbs = _strs(rule.get("verbs"))
        for path in _strs(rule.get("nonResourceURLs")):
            out.extend(Permission(v, "", "", "", path=path) for v in verbs)
        names = _strs(rule.get("resourceNames")) or [""]
        for group in _strs(rule.get("apiGroups")):
            for resource in _strs(rule.get("resources")):
                base, _, sub = resource.partition("/")
                for verb in verbs:
                    for name in names:
                        out.append(Permission(verb, group, base, namespace, name, sub))
    return list(dict.fromkeys(out))


def _role_kind(obj: K8sObject) -> str:
    return "roles" if obj.kind == "Role" else "clusterroles"


async def whoami(kube: Kube, *, timeout: float) -> Identity:  # noqa: ASYNC109
    """The deployer's identity (SelfSubjectReview), or the kubeconfig user if unavailable."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        answer = await retry(lambda: kube.send_json("POST", SSR_PATH, body), timeout=timeout)
    except KubeError:
        return Identity(kube.target.user or "unknown")
    info = (answer.get("status") or {}).get("userInfo") or {}
    return Identity(str(info.get("username") or ""), tuple(_strs(info.get("groups"))))


class _Reviewer:
    """Asks each permission once, concurrently, remembering the answers.

    `cover` first asks whether every verb on every resource is allowed, cluster-wide and in
    each namespace given (what an administrator holds): an allowed wildcard review answers
    each resource permission it covers, so an administrator's deploy sends a few reviews,
    not one per verb and resource. Where the wildcard is not allowed, each is asked.
    """

    def __init__(self, kube: Kube, deadline: float) -> None:
        self.kube = kube
        self.deadline = deadline
        self.answers: dict[Permission, tuple[bool, str]] = {}
        self.requests = 0
        self._semaphore = asyncio.Semaphore(_CONCURRENCY)
        self._wildcards: dict[Permission, tuple[bool, str]] = {}

    async def cover(self, namespaces: Iterable[str]) -> None:
        wildcards = [Permission("*", "*", "*", ns) for ns in dict.fromkeys(["", *namespaces])]
        answers = await asyncio.gather(*(self._review(w) for w in wildcards))
        self._wildcards.update(zip(wildcards, answers, strict=True))

    def _covered(self, p: Permission) -> str:
        """The reason a wildcard review allowed `p`, or "" when none did."""
        if p.path:
            return ""
        for namespace in dict.fromkeys(["", p.namespace]):
            allowed, reason = self._wildcards.get(Permission("*", "*", "*", namespace), (False, ""))
            if allowed:
                where = f"namespace {namespace}" if namespace else "every namespace"
                return f"every verb on every resource allowed in {where}" + (
                    f": {reason}" if reason else ""
                )
        return ""

    async def ask(self, permissions: Iterable[Permission]) -> None:
        todo = [p for p in dict.fromkeys(permissions) if p not in self.answers]
        for p in todo:
            covered = self._covered(p)
            if covered:
                self.answers[p] = (True, covered)
        todo = [p for p in todo if p not in self.answers]
        answers = await asyncio.gather(*(self._review(p) for p in todo))
        self.answers.update(zip(todo, answers, strict=True))

    async def _review(self, p: Permission) -> tuple[bool, str]:
        async with self._semaphore:
            loop = asyncio.get_running_loop()
            remaining = max(self.deadline - loop.time(), 0.001)
            self.requests += 1
            answer = await retry(
                lambda: self.kube.send_json("POST", SSAR_PATH, p.review()), timeout=remaining
            )
        status = answer.get("status") or {}
        reason = str(status.get("reason") or status.get("evaluationError") or "")
        return bool(status.get("allowed")) and not status.get("denied"), reason

    def allowed(self, p: Permission) -> bool:
        return self.answers.get(p, (False, ""))[0]


async def review(
    kube: Kube,
    objects: Sequence[K8sObject],
    *,
    hooks: Sequence[K8sObject] = (),
    served: ServedResources | None = None,
    release_namespace: str = "",
    create_namespace: bool = False,
    prune: bool = True,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for retries across all reviews
) -> RbacReport:
    """Ask the API server every permission the deploy needs; findings for each one missing.

    Raises the classified `KubeError` when the reviews themselves fail (after retrying
    transient errors until `timeout`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reviewer = _Reviewer(kube, deadline)
    before = kube.requests
    needs = required_permissions(
        objects,
        hooks=hooks,
        served=served,
        release_namespace=release_namespace,
        create_namespace=create_namespace,
        prune=prune,
    )
    everything = [*objects, *hooks]
    roles = [
        o for o in everything if o.ref.group == RBAC_GROUP and o.kind in ("Role", "ClusterRole")
    ]
    bindings = [
        o
        for o in everything
        if o.ref.group == RBAC_GROUP and o.kind in ("RoleBinding", "ClusterRoleBinding")
    ]

    # Round 1: deploy permissions, and escalate/bind on every role of a namespace at once.
    def escalate(role: K8sObject, named: bool) -> Permission:
        return Permission(
            "escalate", RBAC_GROUP, _role_kind(role), role.namespace, role.name if named else ""
        )

    def bind(binding: K8sObject, named: bool) -> Permission:
        ref = binding.body.get("roleRef") or {}
        kind = "roles" if ref.get("kind") == "Role" else "clusterroles"
        ns = binding.namespace if binding.kind == "RoleBinding" else ""
        return Permission("bind", RBAC_GROUP, kind, ns, str(ref.get("name") or "") if named else "")

    identity_task = asyncio.ensure_future(whoami(kube, timeout=timeout))
    await reviewer.cover(sorted({p.namespace for p in needs if p.namespace}))
    await reviewer.ask(
        [*needs, *(escalate(r, False) for r in roles), *(bind(b, False) for b in bindings)]
    )
    # Round 2: the named verb for roles and bindings the unnamed one did not cover.
    roles_left = [r for r in roles if not reviewer.allowed(escalate(r, False))]
    bindings_left = [b for b in bindings if not reviewer.allowed(bind(b, False))]
    await reviewer.ask(
        [*(escalate(r, True) for r in roles_left), *(bind(b, True) for b in bindings_left)]
    )
    roles_left = [r for r in roles_left if not reviewer.allowed(escalate(r, True))]
    bindings_left = [b for b in bindings_left if not reviewer.allowed(bind(b, True))]
    # Round 3: the rules themselves, single verb and resource each (as kapp does).
    chart_roles = {r.ref: r for r in roles}
    role_rules = [
        (r, rule_permissions(r.body.get("rules"), r.namespace))
        for r in roles_left
        if not r.body.get("aggregationRule")
    ]
    binding_rules: list[tuple[K8sObject, list[Permission] | None]] = []
    for b in bindings_left:
        rules = await _rules_of(kube, b, chart_roles, deadline)
        ns = b.namespace if b.kind == "RoleBinding" else ""
        binding_rules.append((b, None if rules is None else rule_permissions(rules, ns)))
    await reviewer.ask([p for _, ps in [*role_rules, *binding_rules] if ps for p in ps])
    identity = await identity_task

    checks: list[PermissionCheck] = []
    for p in sorted(reviewer.answers):
        allowed, reason = reviewer.answers[p]
        users = needs.get(p, [])
        checks.append(
            PermissionCheck(
                p,
                allowed,
                reason,
                users[0][1] if users else _why(p),
                tuple(dict.fromkeys(r for r, _ in users)),
            )
        )
    findings = [
        *_deploy_findings(needs, reviewer, identity),
        *_role_findings(role_rules, reviewer, identity),
        *_binding_findings(binding_rules, reviewer, identity),
    ]
    return RbacReport(identity, tuple(checks), tuple(findings), kube.requests - before)


def _why(p: Permission) -> str:
    if p.verb == "escalate":
        return "create roles granting permissions not held"
    if p.verb == "bind":
        return "bind roles granting permissions not held"
    return "a permission the chart's roles grant"


async def _rules_of(
    kube: Kube, binding: K8sObject, chart_roles: Mapping[ObjectRef, K8sObject], deadline: float
) -> Any:
    """The rules of the role a binding names: from the chart, else from the cluster (or None)."""
    ref = binding.body.get("roleRef") or {}
    kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    ns = binding.namespace if kind == "Role" else ""
    role = chart_roles.get(ObjectRef(RBAC_GROUP, kind, ns, name))
    if role is not None:
        return role.body.get("rules")
    plural = "roles" if kind == "Role" else "clusterroles"
    path = APIResource(RBAC_GROUP, "v1", kind, plural, bool(ns), frozenset()).url(ns, name)
    loop = asyncio.get_running_loop()
    try:
        body = await retry(lambda: kube.get_json(path), timeout=max(deadline - loop.time(), 0.001))
    except KubeError:
        return None  # absent (the resolver reports it) or not readable: cannot tell
    return body.get("rules")


def _forbidden(identity: Identity, p: Permission) -> str:
    """Kubernetes' own words for a request this permission would have allowed."""
    who = identity.username
    if p.path:
        return f'forbidden: User "{who}" cannot {p.verb} path "{p.path}"'
    what = f"{p.resource}.{p.group}" if p.group else p.resource
    where = f'in the namespace "{p.namespace}"' if p.namespace else "at the cluster scope"
    return (
        f'{what} is forbidden: User "{who}" cannot {p.verb} resource "{p.resource}" '
        f'in API group "{p.group}" {where}'
    )


def _rule_snippet(group: str, resource: str, verbs: Sequence[str]) -> str:
    quoted = ", ".join(f'"{v}"' for v in verbs)
    return f'{{apiGroups: ["{group}"], resources: ["{resource}"], verbs: [{quoted}]}}'


def _deploy_findings(needs: Needs, reviewer: _Reviewer, identity: Identity) -> list[Finding]:
    """One finding per (group, resource, namespace) with every verb the deployer lacks."""
    missing: dict[tuple[str, str, str], list[Permission]] = defaultdict(list)
    for p in needs:
        if not reviewer.allowed(p):
            missing[(p.group, p.resource, p.namespace)].append(p)
    out = []
    for (group, resource, ns), perms in sorted(missing.items()):
        verbs = sorted({p.verb for p in perms})
        users = needs[perms[0]]
        subject, why = users[0]
        where = f"namespace {ns}" if ns else "the cluster scope"
        what = f"{resource}.{group}" if group else resource
        binding = "a Role and RoleBinding in that namespace" if ns else "a ClusterRoleBinding"
        out.append(
            Finding.make(
                "HG210",
                Severity.ERROR,
                subject,
                "",
                f"{identity} may not {', '.join(verbs)} {what} in {where} (needed to {why}"
                + (f" and {len(users) - 1} more" if len(users) > 1 else "")
                + ")",
                _forbidden(identity, perms[0]),
                f"grant {identity.username} {_rule_snippet(group, resource, verbs)} with {binding}",
                target=ObjectRef(group, resource, ns, ""),
            )
        )
    return out


def _role_findings(
    role_rules: Sequence[tuple[K8sObject, list[Permission]]],
    reviewer: _Reviewer,
    identity: Identity,
) -> list[Finding]:
    out = []
    for role, perms in role_rules:
        lacking = [p for p in perms if not reviewer.allowed(p)]
        if not lacking:
            continue
        shown = "; ".join(str(p) for p in lacking[:6]) + (" …" if len(lacking) > 6 else "")
        out.append(
            Finding.make(
                "HG211",
                Severity.ERROR,
                role.ref,
                "rules",
                f"{identity} does not hold {len(lacking)} permission(s) this {role.kind} grants, "
                f"nor escalate on it: {shown}",
                f'{_role_kind(role)}.rbac.authorization.k8s.io "{role.name}" is forbidden: '
                f'user "{identity.username}" (groups={list(identity.groups)}) is attempting to '
                "grant RBAC permissions not currently held",
                f"grant {identity.username} these permissions, or the escalate verb on "
                f'{_role_kind(role)} (resourceNames: ["{role.name}"]); or drop them from the role',
                source=role.source,
            )
        )
    return out


def _binding_findings(
    binding_rules: Sequence[tuple[K8sObject, list[Permission] | None]],
    reviewer: _Reviewer,
    identity: Identity,
) -> list[Finding]:
    out = []
    for binding, perms in binding_rules:
        if perms is None:
            continue  # role absent or unreadable: the reference check speaks for it
        lacking = [p for p in perms if not reviewer.allowed(p)]
        if not lacking:
            continue
        ref = binding.body.get("roleRef") or {}
        role = f"{ref.get('kind')} {ref.get('name')}"
        shown = "; ".join(str(p) for p in lacking[:6]) + (" …" if len(lacking) > 6 else "")
        out.append(
            Finding.make(
                "HG212",
                Severity.ERROR,
                binding.ref,
                "roleRef",
                f"{identity} may not bind {role}: it lacks bind on it and {len(lacking)} of "
                f"the role's permissions: {shown}",
                f'{binding.kind.lower()}s.rbac.authorization.k8s.io "{binding.name}" is '
                f'forbidden: user "{identity.username}" (groups={list(identity.groups)}) is '
                "attempting to grant RBAC permissions not currently held",
                f"grant {identity.username} the bind verb on {role} (resourceNames), or the "
                "role's permissions",
                source=binding.source,
            )
        )
    return out
