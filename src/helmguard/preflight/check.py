"""The `check` action: render a chart, extract its references, resolve them, report.

One file past 400 lines: the check action, its pure `analyze` and the report's assembly are
one pipeline step.

The CLI and the HTTP API both call `check`; `analyze` is the pure part (no rendering,
no I/O) that the benchmark times and the tests drive with parsed YAML.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helmguard.graph.refs import Ref, extract_refs
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.explain import duplicate_findings, finding_for, scheduler_findings
from helmguard.preflight.findings import Finding
from helmguard.preflight.report import Report
from helmguard.preflight.resolve import (
    ChartIndex,
    ChartResolver,
    Existing,
    HookLike,
    Resolution,
)
from helmguard.preflight.selectors import selector_findings

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart, RenderRequest
    from helmguard.kube.client import Kube
    from helmguard.kube.discovery import ServedResources
    from helmguard.preflight.cluster import ClusterView
    from helmguard.preflight.dryrun import Skip
    from helmguard.preflight.rbac import RbacReport

    # The request to render once connected, from the connection and the request given.
    Prepare = Callable[[Kube, RenderRequest], Awaitable[RenderRequest]]


@dataclass(frozen=True)
class Analysis:
    """References, how each resolved, and the findings they lead to."""

    refs: tuple[Ref, ...]
    resolutions: tuple[Resolution, ...]
    findings: tuple[Finding, ...]
    objects: int


def _sort_key(f: Finding) -> tuple[int, str, ObjectRef, str]:
    return (-f.severity, f.code, f.object, f.path)


def analyze(
    objects: Sequence[K8sObject],
    *,
    hooks: Iterable[HookLike] = (),
    crds: Sequence[K8sObject] = (),
    release_namespace: str = "",
    api_versions: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
    existing: Existing | None = None,
) -> Analysis:
    """Every reference of a rendered release, resolved; findings worst first.

    `existing` answers whether an object is in the cluster (None: cannot tell); leave it
    unset offline. Hooks are analysed too: their own references must resolve.
    """
    hooks = list(hooks)
    index = ChartIndex(
        objects,
        hooks=hooks,
        crds=crds,
        release_namespace=release_namespace,
        api_versions=api_versions,
    )
    everything = [*crds, *objects, *(h.obj for h in hooks)]
    refs = extract_refs(everything)
    resolver = ChartResolver(index, existing)
    resolutions = [resolver.resolve(ref) for ref in refs]
    sources = {obj.ref: obj.source for obj in everything}
    chart_values = values or {}
    findings: list[Finding] = duplicate_findings(index)
    for res in resolutions:
        finding = finding_for(res, sources, chart_values)
        if finding is not None:
            findings.append(finding)
    findings.extend(scheduler_findings(everything))
    findings.extend(selector_findings(everything))
    findings.sort(key=_sort_key)
    return Analysis(tuple(refs), tuple(resolutions), tuple(findings), len(everything))


def analyze_rendered(
    rendered: RenderedChart,
    *,
    api_versions: Iterable[str] = (),
    existing: Existing | None = None,
) -> Analysis:
    """`analyze` on a rendered chart; `api_versions` are the APIs the cluster declares."""
    return analyze(
        rendered.objects,
        hooks=rendered.hooks,
        crds=rendered.crds,
        release_namespace=rendered.namespace,
        api_versions=api_versions,
        values=rendered.values,
        existing=existing,
    )


def chart_root_of(request: RenderRequest) -> str:
    """The chart directory when the chart is a local directory (for SARIF file paths).

    Relative to the working directory when it lies under it, as code scanning expects
    paths relative to the repository root.
    """
    chart = str(getattr(request, "chart", "") or "")
    if not chart or getattr(request, "repo", None) or not Path(chart).is_dir():
        return ""
    path = Path(chart).resolve()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def check(
    request: RenderRequest,
    *,
    offline: bool = True,
    existing: Existing | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    create_namespace: bool = False,
    rbac: bool = True,
    dry_run: bool = True,
    timeout: float = 30.0,
    prepare: Prepare | None = None,
) -> Report:
    """Render `request` and report every broken or unresolvable reference.

    Offline (the default), or with only an `existing` hook, nothing is asked of a
    cluster. With `offline=False` and no `existing`, connects through `kubeconfig` /
    `context` (kubectl's resolution) and runs `check_cluster`: live lookups, RBAC and a
    server-side dry run. From async code, call `check_cluster` with a `Kube` instead.
    `prepare`, given, turns the request into the one to render once connected (the CLI
    renders as deploying the release now would: its revision, upgrade, `lookup`).

    Raises chart.source.ChartError (and ManifestError) for charts that cannot be
    rendered, and kube.errors.KubeError when the cluster cannot be reached or answered;
    everything Helm would accept but Kubernetes would not becomes a finding.
    """
    from helmguard.chart.render import render_chart

    if not offline and existing is None:
        return asyncio.run(
            _connect_and_check(
                request,
                kubeconfig=kubeconfig,
                context=context,
                create_namespace=create_namespace,
                rbac=rbac,
                dry_run=dry_run,
                timeout=timeout,
                prepare=prepare,
            )
        )
    rendered = render_chart(request)
    analysis = analyze_rendered(
        rendered,
        api_versions=getattr(request, "api_versions", None) or (),
        existing=None if offline else existing,
    )
    return Report(
        release=rendered.release,
        namespace=rendered.namespace,
        chart=rendered.chart_name,
        chart_version=rendered.chart_version,
        findings=analysis.findings,
        objects=analysis.objects,
        references=len(analysis.refs),
        offline=offline,
        chart_root=chart_root_of(request),
    )


async def _connect_and_check(
    request: RenderRequest,
    *,
    kubeconfig: str | None,
    context: str | None,
    create_namespace: bool,
    rbac: bool,
    dry_run: bool,
    timeout: float,  # noqa: ASYNC109
    prepare: Prepare | None,
) -> Report:
    from helmguard.kube.client import connect

    kube = await connect(kubeconfig, context, timeout=min(timeout, 10.0))
    async with kube:
        if prepare is not None:
            request = await prepare(kube, request)
        return await check_cluster(
            request,
            kube=kube,
            create_namespace=create_namespace,
            rbac=rbac,
            dry_run=dry_run,
            timeout=timeout,
        )


async def check_cluster(
    request: RenderRequest,
    *,
    kube: Kube,
    create_namespace: bool = False,
    rbac: bool = True,
    dry_run: bool = True,
    prune: bool = True,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for retries, per phase
    rendered: RenderedChart | None = None,
) -> Report:
    """`check` against the cluster `kube` talks to; writes nothing to it.

    `rendered` is `request` already rendered with this cluster's capabilities (as
    `deploy` does before its preflight gate); given, the chart is not rendered again.

    Renders with the cluster's capabilities (an explicit --kube-version still wins), looks
    up every reference the chart leaves unresolved in one list per (kind, namespace),
    checks namespaces, StorageClasses and served kinds, asks the API server every
    permission the deploy needs (`rbac`), and dry-runs every object in plan order
    (`dry_run`). Raises the classified `KubeError` when the cluster cannot answer
    (transient errors are retried until `timeout`), chart.source.ChartError for charts
    that cannot be rendered.
    """
    from helmguard.chart.capabilities import capabilities_from, with_capabilities
    from helmguard.chart.render import render_chart
    from helmguard.graph.order import policies_in_effect
    from helmguard.kube.classifier import retry
    from helmguard.preflight.cluster import cluster_findings, lookup, needs_storage_classes
    from helmguard.preflight.dryrun import dry_run as run_dry_run
    from helmguard.preflight.dryrun import probe_pod_templates
    from helmguard.preflight.rbac import Identity, review
    from helmguard.preflight.report import ClusterInfo
    from helmguard.preflight.resolve import How

    started = time.monotonic()
    counts: dict[str, int] = {}
    mark = kube.requests

    def phase(name: str) -> None:
        nonlocal mark
        counts[name] = kube.requests - mark
        mark = kube.requests

    served = await retry(kube.discovery.resources, timeout=timeout)
    version = await retry(kube.version, timeout=timeout)
    phase("discovery")
    request = with_capabilities(request, capabilities_from(version, served))
    if rendered is None:
        rendered = render_chart(request)
    api_versions = request.api_versions
    hooks = [h.obj for h in rendered.hooks]
    everything = [*rendered.crds, *rendered.objects, *hooks]

    # Resolve offline first: only what the chart leaves open is looked up, in batches.
    first = analyze_rendered(rendered, api_versions=api_versions)
    targets = [r.ref.target for r in first.resolutions if r.how is How.UNKNOWN]
    view = await lookup(
        kube,
        targets,
        served=served,
        storage=needs_storage_classes(everything),
        timeout=timeout,
    )
    phase("lookups")
    analysis = analyze_rendered(rendered, api_versions=api_versions, existing=view.existing)
    created = {o.name for o in everything if o.kind == "Namespace" and not o.ref.group}
    findings = list(analysis.findings)
    findings += cluster_findings(
        everything,
        view,
        release_namespace=rendered.namespace,
        created_namespaces=created,
        create_namespace=create_namespace,
    )

    rbac_report: RbacReport | None = None
    if rbac:
        rbac_report = await review(
            kube,
            [*rendered.crds, *rendered.objects],
            hooks=hooks,
            served=served,
            release_namespace=rendered.namespace,
            create_namespace=create_namespace and rendered.namespace not in view.namespaces,
            prune=prune,
            timeout=timeout,
        )
        findings += rbac_report.findings
    phase("rbac")

    verified = 0
    if dry_run:
        order, extra, skip = _dry_run_plan(
            rendered, served, view, rbac_report, created, create_namespace
        )
        findings += extra
        report = await run_dry_run(
            kube,
            order,
            served=served,
            skip=skip,
            chart=[o.ref for o in everything],
            recreated=[
                h.obj.ref
                for h in rendered.hooks
                if "before-hook-creation" in policies_in_effect(h.delete_policies)
            ],
            timeout=timeout,
        )
        findings += report.findings
        verified = report.verified
        phase("dry-run")
        objects = {o.ref: o for o in everything}
        findings = await probe_pod_templates(
            kube,
            findings,
            objects,
            existing_namespaces=[n for n, gone in view.namespaces.items() if not gone],
            timeout=timeout,
        )
        phase("probes")
    counts["total"] = sum(counts.values())
    findings.sort(key=_sort_key)
    identity = rbac_report.identity if rbac_report else Identity(kube.target.user)
    return Report(
        release=rendered.release,
        namespace=rendered.namespace,
        chart=rendered.chart_name,
        chart_version=rendered.chart_version,
        findings=tuple(findings),
        objects=analysis.objects,
        references=len(analysis.refs),
        offline=False,
        chart_root=chart_root_of(request),
        cluster=ClusterInfo(
            server=kube.target.server,
            context=kube.target.context,
            identity=str(identity),
            kube_version=str(version.get("gitVersion", "")),
            requests=counts,
            list_requests=view.list_requests,
            permissions=rbac_report.checks if rbac_report else (),
            dry_run_verified=verified,
            seconds=time.monotonic() - started,
        ),
    )


def _dry_run_plan(
    rendered: RenderedChart,
    served: ServedResources,
    view: ClusterView,
    rbac_report: RbacReport | None,
    created_namespaces: set[str],
    create_namespace: bool,
) -> tuple[list[K8sObject], list[Finding], dict[ObjectRef, Skip]]:
    """Objects in plan order, findings for kinds no version serves, and what to skip (why)."""
    from helmguard.graph.order import build_plan
    from helmguard.kube.errors import MissingDependency
    from helmguard.kube.kinds import BUILTIN_GROUPS
    from helmguard.preflight.cluster import unserved_kinds
    from helmguard.preflight.dryrun import Skip
    from helmguard.preflight.findings import Severity
    from helmguard.preflight.rbac import resource_for

    hooks = list(rendered.hooks)
    try:
        plan = build_plan(rendered.objects, hooks=hooks, crds=rendered.crds)
        ordered = [
            *(s.obj for s in plan.pre_hooks),
            *plan.objects,
            *(s.obj for s in plan.post_hooks),
        ]
    except ValueError:  # duplicates: HG100 reports them; keep the rendered order
        ordered = [*rendered.crds, *rendered.objects, *(h.obj for h in hooks)]
    order: list[K8sObject] = []
    seen: set[ObjectRef] = set()
    for obj in ordered:
        if obj.ref not in seen:
            seen.add(obj.ref)
            order.append(obj)
    unserved = unserved_kinds(order, rendered.crds, served)
    escalating = {
        f.object for f in (rbac_report.findings if rbac_report else ()) if f.code != "HG210"
    }
    extra: list[Finding] = []
    skip: dict[ObjectRef, Skip] = {}
    for obj in order:
        group, ns = obj.ref.group, obj.namespace
        if obj.ref in unserved:
            crd = unserved[obj.ref]
            if crd:
                skip[obj.ref] = Skip(f"CustomResourceDefinition {crd} is established")
                continue
            skip[obj.ref] = Skip()
            if group in BUILTIN_GROUPS or served.for_kind(group, obj.kind) is not None:
                try:
                    served.lookup(obj.api_version, obj.kind)
                except MissingDependency as err:  # HG116 speaks only for custom groups
                    extra.append(
                        Finding.make(
                            "HG227",
                            Severity.ERROR,
                            obj.ref,
                            "apiVersion",
                            err.message,
                            f'no matches for kind "{obj.kind}" in version "{obj.api_version}"',
                            err.fix,
                            source=obj.source,
                        )
                    )
            continue
        resource, namespaced = resource_for(obj, served)
        ns = ns if namespaced else ""
        if ns and view.namespaces and ns not in view.namespaces:
            if ns in created_namespaces or (create_namespace and ns == rendered.namespace):
                skip[obj.ref] = Skip(f"namespace {ns} is created")
            else:
                skip[obj.ref] = Skip()
            continue
        if ns and view.terminating(ns):
            skip[obj.ref] = Skip()
            continue
        if rbac_report is not None and (
            obj.ref in escalating
            or not (
                rbac_report.allows("patch", group, resource, ns)
                and rbac_report.allows("create", group, resource, ns)
            )
        ):
            skip[obj.ref] = Skip()  # HG210-HG212 already say why the server would refuse
    return order, extra, skip
