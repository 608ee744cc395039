"""Every reference type: a missing target is reported, and its satisfied form is not."""

from __future__ import annotations

import pytest
from tests.preflight.cases import CASES, Case

from helmguard.manifest import parse_objects
from helmguard.preflight.check import analyze
from helmguard.preflight.findings import Severity

# The cluster these cases target serves these CRD-backed APIs (as --api-versions says).
APIS = ("gateway.networking.k8s.io/v1", "monitoring.coreos.com/v1")


def _findings_at(case: Case, text: str) -> list[tuple[str, str, str]]:
    objs = parse_objects(text, "chart/templates/x.yaml")
    analysis = analyze(objs, release_namespace="app", api_versions=APIS)
    return [
        (f.code, f.path, str(f.severity))
        for f in analysis.findings
        if f.path == case.path and f.target == case.target
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_missing_target_is_reported(case: Case) -> None:
    findings = _findings_at(case, case.source)
    assert findings == [(case.code, case.path, str(Severity.WARNING))]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_satisfied_reference_is_not_reported(case: Case) -> None:
    text = case.source + "---\n" + case.satisfier
    assert _findings_at(case, text) == []
    analysis = analyze(parse_objects(text), release_namespace="app", api_versions=APIS)
    assert [f for f in analysis.findings if f.severity >= Severity.WARNING] == []
