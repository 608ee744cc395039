"""The preflight Report and its three renderings: table (rich), JSON, SARIF 2.1.0."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helmguard import __version__
from helmguard.manifest import ObjectRef
from helmguard.preflight.findings import CODES, Finding, Severity

if TYPE_CHECKING:
    from helmguard.preflight.rbac import PermissionCheck

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_INFO_URI = "https://github.com/helmguard/helmguard"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub code scanning ranks alerts by this property (0.1-10); RBAC/admission breakage is high.
_SECURITY_SEVERITY = {Severity.ERROR: "7.0", Severity.WARNING: "4.0", Severity.INFO: "1.0"}


@dataclass(frozen=True)
class ClusterInfo:
    """What a cluster check talked to, as whom, and what it cost."""

    server: str
    context: str
    identity: str
    kube_version: str
    requests: Mapping[str, int]  # per phase: discovery, lookups, rbac, dry-run, probes, total
    list_requests: int  # the lookups' list calls (they grow with kinds x namespaces)
    permissions: tuple[PermissionCheck, ...] = ()
    dry_run_verified: int = 0  # objects the API server accepted in dry run
    seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    """What `check` found for one rendered release."""

    release: str
    namespace: str
    chart: str
    chart_version: str
    findings: tuple[Finding, ...]
    objects: int  # objects rendered (regular, hooks and CRDs)
    references: int  # by-name references examined
    offline: bool = True
    chart_root: str = ""  # the chart's directory on disk, to turn sources into file paths
    cluster: ClusterInfo | None = None  # set when the check ran against a cluster

    def worst(self) -> Severity | None:
        """The highest severity among the findings, or None when there are none."""
        return max((f.severity for f in self.findings), default=None)

    def failed(self, fail_on: Severity) -> bool:
        """True when a finding is at or above `fail_on`."""
        worst = self.worst()
        return worst is not None and worst >= fail_on

    def counts(self) -> dict[str, int]:
        """Number of findings per severity name."""
        c = Counter(str(f.severity) for f in self.findings)
        return {str(s): c.get(str(s), 0) for s in sorted(Severity, reverse=True)}

    def file_of(self, source: str) -> str:
        """The file a template path names: `chart/templates/x.yaml` -> `<root>/templates/x.yaml`."""
        if not source:
            return ""
        if not self.chart_root:
            return source
        _, _, rest = source.partition("/")
        root = self.chart_root.rstrip("/")
        return f"{root}/{rest}" if rest else root


def _obj(ref: ObjectRef | None) -> dict[str, str] | None:
    if ref is None:
        return None
    return {"group": ref.group, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def to_json(report: Report) -> str:
    """The report as a JSON document (stable keys, one object per finding)."""
    doc: dict[str, Any] = {
        "release": report.release,
        "namespace": report.namespace,
        "chart": report.chart,
        "chartVersion": report.chart_version,
        "offline": report.offline,
        "objects": report.objects,
        "references": report.references,
        "summary": report.counts(),
        "findings": [
            {
                "code": f.code,
                "name": f.name,
                "severity": str(f.severity),
                "object": _obj(f.object),
                "path": f.path,
                "target": _obj(f.target),
                "message": f.message,
                "predicted": f.predicted,
                "fix": f.fix,
                "source": f.source,
            }
            for f in report.findings
        ],
    }
    if report.cluster is not None:
        doc["cluster"] = _cluster_json(report.cluster)
    return json.dumps(doc, indent=2) + "\n"


def _cluster_json(info: ClusterInfo) -> dict[str, Any]:
    return {
        "server": info.server,
        "context": info.context,
        "identity": info.identity,
        "kubeVersion": info.kube_version,
        "requests": dict(info.requests),
        "listRequests": info.list_requests,
        "dryRunVerified": info.dry_run_verified,
        "seconds": round(info.seconds, 3),
        "permissions": [
            {
                "verb": c.permission.verb,
                "group": c.permission.group,
                "resource": c.permission.resource,
                "subresource": c.permission.subresource,
                "name": c.permission.name,
                "path": c.permission.path,
                "namespace": c.permission.namespace,
                "allowed": c.allowed,
                "reason": c.reason,
                "neededFor": c.needed_for,
            }
            for c in info.permissions
        ],
    }


def to_rbac_table(report: Report, *, color: bool = False, width: int = 120) -> str:
    """The deployer's permissions: verb, resource, namespace, allowed/denied, identity."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color)
    info = report.cluster
    if info is None:
        console.print("no cluster: permissions were not checked (--offline)", highlight=False)
        return buf.getvalue()
    table = Table(title=f"permissions of {info.identity} on {info.server}", expand=True)
    for column in ("verb", "resource", "namespace", "allowed", "identity", "needed for"):
        table.add_column(column, overflow="fold")
    for c in info.permissions:
        p = c.permission
        resource = p.path or (
            (f"{p.resource}.{p.group}" if p.group else p.resource)
            + (f"/{p.subresource}" if p.subresource else "")
            + (f" ({p.name})" if p.name else "")
        )
        verdict = "[green]allowed[/]" if c.allowed else "[bold red]denied[/]"
        table.add_row(
            p.verb, resource, p.namespace or "(cluster)", verdict, info.identity, c.needed_for
        )
    console.print(table)
    denied = sum(1 for c in info.permissions if not c.allowed)
    console.print(f"{len(info.permissions)} permissions, {denied} denied", highlight=False)
    return buf.getvalue()


def _fingerprint(f: Finding) -> str:
    raw = f"{f.code}|{f.object}|{f.path}|{f.target}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def to_sarif(report: Report) -> str:
    """SARIF 2.1.0 that GitHub code scanning accepts: a rule per code used, a result per finding."""
    used = sorted({f.code for f in report.findings})
    rule_index = {code: i for i, code in enumerate(used)}
    rules = []
    for code in used:
        row = CODES[code]
        level = max(f.severity for f in report.findings if f.code == code)
        rules.append(
            {
                "id": code,
                "name": "".join(part.capitalize() for part in row.name.split("-")),
                "shortDescription": {"text": f"{code} {row.name}"},
                "fullDescription": {"text": row.summary},
                "help": {
                    "text": f"{row.summary} Run `helmguard check` locally for the fix hint.",
                    "markdown": f"**{code} {row.name}**: {row.summary}",
                },
                "defaultConfiguration": {"level": _SARIF_LEVEL[level]},
                "properties": {
                    "tags": ["kubernetes", "helm"],
                    "precision": "high",
                    "security-severity": _SECURITY_SEVERITY[level],
                },
            }
        )
    results = []
    for f in report.findings:
        uri = report.file_of(f.source) or "Chart.yaml"
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": rule_index[f.code],
                "level": _SARIF_LEVEL[f.severity],
                "message": {
                    "text": f"{f.object} {f.path}: {f.message}. Kubernetes: {f.predicted}. "
                    f"Fix: {f.fix}."
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": 1},
                        },
                        "logicalLocations": [
                            {"fullyQualifiedName": f"{f.object}#{f.path}", "kind": "object"}
                        ],
                    }
                ],
                "partialFingerprints": {"helmguardFinding/v1": _fingerprint(f)},
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "helmguard",
                        "informationUri": _INFO_URI,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"helmguard/{report.chart}/{report.release}/"},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def to_table(report: Report, *, color: bool = False, width: int = 120) -> str:
    """A human-readable table of findings, then a one-line summary."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color)
    mode = "offline" if report.offline else "cluster"
    console.print(
        f"{report.chart} {report.chart_version} as release {report.release} "
        f"in namespace {report.namespace} ({mode}): {report.objects} objects, "
        f"{report.references} references",
        highlight=False,
    )
    if report.findings:
        table = Table(show_lines=True, expand=True)
        table.add_column("code", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("object / field", ratio=2, overflow="fold")
        table.add_column("problem / Kubernetes will / fix", ratio=5)
        for f in report.findings:
            table.add_row(
                f"{f.code}\n{f.name}",
                f"[{_STYLE[f.severity]}]{f.severity}[/]",
                f"{f.object}\n{f.path}",
                f"{f.message}\n[dim]Kubernetes:[/] {f.predicted}\n[bold]fix:[/] {f.fix}",
            )
        console.print(table)
    counts = report.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(f"{summary}" if report.findings else "no findings", highlight=False)
    return buf.getvalue()
