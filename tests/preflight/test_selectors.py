# ruff: noqa: E501  (realistic YAML reads better unbroken)
"""Selectors that match no pod of the chart: Service, PodDisruptionBudget, NetworkPolicy."""

from __future__ import annotations

from helmguard.manifest import parse_objects
from helmguard.preflight.selectors import matches, selector_findings

WEB = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: app}\n"
    "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n"
    "    metadata: {labels: {app: web, tier: front}}\n"
    "    spec: {containers: [{name: c, image: nginx}]}\n---\n"
)


def found(text: str) -> list[tuple[str, str, str]]:
    return [(f.code, f.path, str(f.severity)) for f in selector_findings(parse_objects(text))]


def test_service_selecting_the_chart_pods_is_clean() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app}\nspec:\n  selector: {app: web}\n"
    assert found(WEB + svc) == []


def test_service_selecting_nothing_is_a_warning() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: app}\nspec:\n  selector: {app: website}\n"
    assert found(WEB + svc) == [("HG124", "spec.selector", "warning")]


def test_service_without_selector_is_not_checked() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: app}\nspec:\n  type: ExternalName\n  externalName: db.example.test\n"
    assert found(WEB + svc) == []


def test_pdb_match_expressions() -> None:
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: app}\n"
        "spec:\n  minAvailable: 1\n  selector:\n    matchExpressions:\n"
        "    - {key: tier, operator: In, values: [%s]}\n"
    )
    assert found(WEB + pdb % "front") == []
    assert found(WEB + pdb % "back") == [("HG124", "spec.selector", "warning")]


def test_network_policy_empty_selector_selects_everything() -> None:
    np = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: app}\nspec:\n  podSelector: {}\n"
    assert found(WEB + np) == []


def test_pods_made_elsewhere_make_it_info_only() -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: prom, namespace: app}\nspec:\n  selector: {app: prometheus}\n"
    cr = "---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: main, namespace: app}\n"
    assert found(WEB + svc + cr) == [("HG124", "spec.selector", "info")]
    # No workload of the chart in that namespace at all: pods come from elsewhere.
    assert found(svc) == [("HG124", "spec.selector", "info")]


def test_matches_operators() -> None:
    labels = {"app": "web", "tier": "front"}
    sel = {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}
    assert matches(sel, labels, plain=False)
    assert not matches(
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
        labels,
        plain=False,
    )
    assert matches(
        {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels, plain=False
    )
    assert not matches({"app": "web", "zone": "a"}, labels, plain=True)
