"""Server-side dry run: let admission, validation, quotas and policies speak before any write.

Every object, in plan order, is sent as a server-side apply PATCH with `dryRun=All`
(field manager helmguard, no force: as the deploy will send it). The API server runs
mutating and validating admission, schema validation, ResourceQuota, LimitRange,
PodSecurity and webhooks, and persists nothing. Errors go through `kube.classifier.classify`.

An object whose dry run can pass only once an earlier object of the chart exists (in a
namespace the chart creates, of a kind a chart CRD defines, needing a ServiceAccount the
chart creates) is reported as "not verifiable until ..." (info), never as an error.

A Deployment's dry run does not admit its pods; for workloads whose pods the resolver
found blocked, `probe_pod_templates` dry-runs one pod of the template to quote the very
admission error the controller will meet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from helmguard.kube.classifier import retry
from helmguard.kube.discovery import APIResource, ServedResources
from helmguard.kube.errors import (
    Conflict,
    EscalationDenied,
    Invalid,
    KubeError,
    MissingDependency,
    PermissionDenied,
    PolicyViolation,
    QuotaExceeded,
)
from helmguard.kube.kinds import POD_SPEC_PATHS, is_workload
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.findings import Finding, Severity
from helmguard.preflight.resolve import resource_of

if TYPE_CHECKING:
    from helmguard.kube.client import Kube

# The field manager deploy applies with (Helm's: deploy.cluster), so a dry run sees its conflicts.
FIELD_MANAGER = "helm"
FORMER_FIELD_MANAGER = "helmguard"  # what deploy used before; its fields are taken over
# Dry runs in flight at once: bounded so a big chart does not flood the API server.
CONCURRENCY = 32

_CODES: tuple[tuple[type[KubeError], str], ...] = (
    (MissingDependency, "HG220"),
    (PermissionDenied, "HG221"),
    (QuotaExceeded, "HG222"),
    (PolicyViolation, "HG223"),
    (Invalid, "HG224"),
    (Conflict, "HG225"),
    (EscalationDenied, "HG226"),
)

_PODS = APIResource("", "v1", "Pod", "pods", True, frozenset({"create"}))


class ClusterChanged(MissingDependency):
    """An API discovery served at the start of the check disappeared during it."""


@dataclass(frozen=True)
class Skip:
    """Why an object is not dry-run: `until` for "not verifiable until ...", else covered."""

    until: str = ""  # e.g. "namespace x is created"; "" = another finding already covers it


@dataclass(frozen=True)
class DryRunReport:
    """Findings of the dry run, how many objects the server verified, requests sent."""

    findings: tuple[Finding, ...]
    verified: int
    requests: int


def code_for(err: KubeError) -> str:
    """The finding code for a classified dry-run error."""
    for cls, code in _CODES:
        if isinstance(err, cls):
            return code
    return "HG227"


def _path(obj: K8sObject, served: ServedResources) -> str:
    return served.lookup(obj.api_version, obj.kind).url(obj.namespace, obj.name)


def _remaining(deadline: float) -> float:
    return max(deadline - asyncio.get_running_loop().time(), 0.001)


async def dry_run(
    kube: Kube,
    objects: Sequence[K8sObject],
    *,
    served: ServedResources,
    skip: Mapping[ObjectRef, Skip],
    chart: Iterable[ObjectRef],
    recreated: Iterable[ObjectRef] = (),
    concurrency: int = CONCURRENCY,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for retries across all dry runs
) -> DryRunReport:
    """Dry-run `objects` (in plan order) as server-side apply; a finding per rejection.

    `skip` names objects not to send and why; `chart` holds every object the release
    creates, so a rejection for want of one of them is "not verifiable until" it exists.
    `recreated` are hooks deleted before they are created (before-hook-creation): they are
    dry-run as a create under a generated name, never as a change of the live one.
    Raises `ClusterChanged` when a kind discovery listed is no longer served, and the
    classified `KubeError` when transient failures outlast `timeout`.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    in_chart = frozenset(chart)
    fresh = frozenset(recreated)
    semaphore = asyncio.Semaphore(concurrency)
    before = kube.requests
    results: dict[ObjectRef, KubeError | None] = {}

    async def one(obj: K8sObject) -> None:
        path = _path(obj, served)
        params = {"dryRun": "All", "fieldManager": FIELD_MANAGER}
        async with semaphore:

            async def send() -> Any:
                if obj.ref in fresh:
                    meta = {k: v for k, v in obj.metadata.items() if k != "name"}
                    body = {**obj.body, "metadata": {**meta, "generateName": f"{obj.name}-"}}
                    return await kube.send_json(
                        "POST", path.rsplit("/", 1)[0], body, params={"dryRun": "All"}
                    )
                return await kube.send_json(
                    "PATCH",
                    path,
                    dict(obj.body),
                    params=params,
                    content_type="application/apply-patch+yaml",
                )

            try:
                try:
                    await retry(send, timeout=_remaining(deadline))
                except Conflict as err:
                    # Fields helmguard applied before it used Helm's field manager: deploy
                    # takes them over (deploy.cluster), so the dry run does too.
                    if set(err.managers) != {FORMER_FIELD_MANAGER}:
                        raise
                    params["force"] = "true"
                    await retry(send, timeout=_remaining(deadline))
            except KubeError as err:
                if err.retryable:
                    raise
                if err.code == 404 and _api_gone(err):
                    raise ClusterChanged(
                        f"{obj.api_version} {obj.kind} was served when the check started but "
                        f"is not any more (its CRD was deleted?); {obj.ref} cannot be verified.",
                        fix="Check the CustomResourceDefinition and run the check again.",
                        status=err.status,
                        code=err.code,
                        target=err.target,
                    ) from err
                results[obj.ref] = err
                return
        results[obj.ref] = None

    to_send = [o for o in objects if o.ref not in skip]
    await asyncio.gather(*(one(o) for o in to_send))
    findings: list[Finding] = []
    for obj in objects:
        why = skip.get(obj.ref)
        if why is not None:
            if why.until:
                findings.append(_not_verifiable(obj, why.until))
            continue
        err = results.get(obj.ref)
        if err is not None:
            findings.append(_finding(obj, err, in_chart))
    verified = sum(1 for o in to_send if results.get(o.ref) is None)
    return DryRunReport(tuple(findings), verified, kube.requests - before)


def _api_gone(err: KubeError) -> bool:
    """A 404 for the resource type itself (its group or CRD gone), not for an object in it."""
    text = err.api_message
    return "could not find the requested resource" in text or "page not found" in text


def _not_verifiable(obj: K8sObject, until: str) -> Finding:
    return Finding.make(
        "HG228",
        Severity.INFO,
        obj.ref,
        "",
        f"the server dry run of {obj.ref} can only pass once {until}",
        "not verifiable until then: admission and validation run at deploy time",
        "nothing to do; the deploy creates it in order",
        source=obj.source,
    )


def _finding(obj: K8sObject, err: KubeError, in_chart: frozenset[ObjectRef]) -> Finding:
    """A dry-run rejection as a finding, or "not verifiable" when an earlier object is wanting."""
    dependency = getattr(err, "dependency", None)
    if isinstance(err, MissingDependency) and dependency is not None:
        wanted = _chart_match(dependency, in_chart)
        if wanted is not None:
            return _not_verifiable(obj, f"{wanted} exists (the chart creates it first)")
    details = err.status.get("details") or {}
    if err.code == 404 and details.get("name"):
        # e.g. a binding checked against a Role the chart creates earlier in the plan
        named = str(details["name"])
        plural = str(details.get("kind") or "")
        for ref in in_chart:
            if ref.name == named and resource_of(ref.kind) == plural:
                return _not_verifiable(obj, f"{ref} exists (the chart creates it first)")
    severity = Severity.ERROR
    fields = err.fields if isinstance(err, Invalid) else tuple(c.field for c in err.causes)
    return Finding.make(
        code_for(err),
        severity,
        obj.ref,
        fields[0] if len(fields) == 1 else "",
        f"server dry run: {type(err).__name__}: {err.message}",
        err.api_message or err.message,
        err.fix or "change the object so the API server accepts it",
        source=obj.source,
        target=dependency if isinstance(dependency, ObjectRef) else None,
    )


def _chart_match(dependency: ObjectRef, in_chart: frozenset[ObjectRef]) -> ObjectRef | None:
    if dependency in in_chart:
        return dependency
    if not dependency.name:
        return None
    for ref in in_chart:
        if (ref.kind, ref.namespace, ref.name) == (
            dependency.kind,
            dependency.namespace,
            dependency.name,
        ):
            return ref
    return None


def pod_from_template(obj: K8sObject) -> dict[str, Any] | None:
    """A Pod as the workload's controller would create it (generateName, labels, spec)."""
    steps = POD_SPEC_PATHS.get(obj.kind)
    if steps is None or not is_workload(obj.ref) or obj.kind == "Pod":
        return None
    template: Any = obj.body
    for step in steps[:-1]:
        template = template.get(step) if isinstance(template, dict) else None
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return None
    meta = dict(template.get("metadata") or {})
    meta.pop("name", None)
    meta["generateName"] = f"{obj.name}-"
    meta["namespace"] = obj.namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


_POD_CODES = frozenset({"HG101", "HG106", "HG107"})


async def probe_pod_templates(
    kube: Kube,
    findings: Sequence[Finding],
    objects: Mapping[ObjectRef, K8sObject],
    *,
    existing_namespaces: Iterable[str],
    timeout: float = 10.0,  # noqa: ASYNC109
) -> list[Finding]:
    """`findings` with the admission error a workload's pods will really get quoted.

    For each error about a pod template's ServiceAccount, PriorityClass or RuntimeClass,
    one pod of that template is dry-run created; the server's refusal replaces the
    predicted text. Findings the probe cannot confirm are returned unchanged.
    """
    namespaces = set(existing_namespaces)
    deadline = asyncio.get_running_loop().time() + timeout
    probes: dict[ObjectRef, dict[str, Any]] = {}
    for f in findings:
        if f.code not in _POD_CODES or f.severity < Severity.ERROR:
            continue
        obj = objects.get(f.object)
        if obj is None or obj.namespace not in namespaces:
            continue
        pod = pod_from_template(obj)
        if pod is not None:
            probes[obj.ref] = pod
    said: dict[ObjectRef, str] = {}

    async def one(ref: ObjectRef, pod: dict[str, Any]) -> None:
        path = _PODS.url(ref.namespace)

        async def send() -> Any:
            return await kube.send_json("POST", path, pod, params={"dryRun": "All"})

        try:
            await retry(send, timeout=_remaining(deadline))
        except KubeError as err:
            if isinstance(err, MissingDependency) and err.api_message:
                said[ref] = err.api_message

    await asyncio.gather(*(one(r, p) for r, p in probes.items()))
    out = []
    for f in findings:
        words = said.get(f.object)
        if words and f.code in _POD_CODES:
            f = replace(
                f,
                predicted=f"the {f.object.kind} is accepted but no pod is created: "
                f"FailedCreate: {words} (the API server's answer to a dry-run pod)",
            )
        out.append(f)
    return out
