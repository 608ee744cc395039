"""The `check` action: render a chart, extract its references, resolve them, report.

The CLI and the HTTP API both call `check`; `analyze` is the pure part (no rendering,
no I/O) that the benchmark times and the tests drive with parsed YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    request: RenderRequest, *, offline: bool = True, existing: Existing | None = None
) -> Report:
    """Render `request` and report every broken or unresolvable reference.

    Raises chart.source.ChartError (and ManifestError) for charts that cannot be
    rendered; everything Helm would accept but Kubernetes would not becomes a finding.
    """
    from helmguard.chart.render import render_chart

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
