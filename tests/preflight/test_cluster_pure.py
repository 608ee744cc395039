"""The pure parts of the cluster check: permissions needed, rules broken down, the view."""

from __future__ import annotations

from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.cluster import ClusterView, cluster_findings
from helmguard.preflight.dryrun import pod_from_template
from helmguard.preflight.rbac import Permission, required_permissions, rule_permissions

ALL = ("create", "delete", "get", "list", "patch", "watch")


def test_required_permissions_are_deduplicated() -> None:
    objs = [
        K8sObject(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}", "namespace": "a"},
            }
        )
        for i in range(50)
    ]
    needs = required_permissions(objs, release_namespace="a")
    assert len([p for p in needs if p.resource == "configmaps"]) == len(ALL)
    assert len(needs[Permission("create", "", "configmaps", "a")]) == 50


def test_rule_permissions_break_rules_into_single_checks() -> None:
    rules = [
        {"apiGroups": ["", "apps"], "resources": ["pods", "deployments/scale"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["a", "b"],
            "verbs": ["get"],
        },
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]
    got = rule_permissions(rules, "ns")
    assert Permission("get", "apps", "deployments", "ns", "", "scale") in got
    assert Permission("get", "", "secrets", "ns", "b") in got
    assert Permission("get", "", "", "", path="/healthz") in got
    assert len(got) == 4 + 2 + 1


def test_view_answers_from_batches_and_namespaces() -> None:
    view = ClusterView(
        present=frozenset({ObjectRef("", "ServiceAccount", "a", "x")}),
        listed=frozenset({("", "ServiceAccount", "a")}),
        unverified={("", "Secret", "a"): "forbidden"},
        namespaces={"a": False, "gone": True},
    )
    assert view.existing(ObjectRef("", "ServiceAccount", "a", "x")) is True
    assert view.existing(ObjectRef("", "ServiceAccount", "a", "y")) is False
    assert view.existing(ObjectRef("", "Secret", "a", "s")) is None
    assert view.existing(ObjectRef("", "ConfigMap", "nowhere", "c")) is False
    assert view.existing(ObjectRef("", "Namespace", "", "gone")) is True
    findings = cluster_findings(
        [
            K8sObject(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "gone"},
                }
            )
        ],
        view,
        release_namespace="gone",
        created_namespaces=(),
    )
    assert [f.code for f in findings] == ["HG200", "HG201"]


def test_pod_from_template_is_what_the_controller_creates() -> None:
    deployment = K8sObject(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "serviceAccountName": "sa",
                        "containers": [{"name": "c", "image": "i"}],
                    },
                }
            },
        }
    )
    pod = pod_from_template(deployment)
    assert pod is not None
    assert pod["metadata"] == {"labels": {"app": "web"}, "generateName": "web-", "namespace": "a"}
    assert pod["spec"]["serviceAccountName"] == "sa"
