"""Install order: Helm's kind order refined by references, on rendered charts and manifests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from helmguard.chart.render import Hook, RenderRequest, render_chart
from helmguard.graph.order import (
    Plan,
    build_plan,
    plan_to_dict,
    plan_to_text,
    uninstall_order,
)
from helmguard.manifest import K8sObject, ObjectRef, kind_rank, parse_objects

CHARTS = Path(__file__).parents[1] / "deploy" / "charts"
EXAMPLES = Path(__file__).parents[2] / "examples"


def _wave(plan: Plan, kind: str, name: str) -> int:
    for wave in plan.waves:
        for obj in wave.objects:
            if obj.kind == kind and obj.name == name:
                return wave.index
    raise AssertionError(f"{kind} {name} is in no wave")


@pytest.fixture(scope="module")
def fullstack() -> Plan:
    rendered = render_chart(
        RenderRequest(chart=str(CHARTS / "fullstack"), release="demo", namespace="demo-ns")
    )
    return build_plan(rendered.objects, hooks=rendered.hooks, crds=rendered.crds)


def test_every_dependency_comes_in_an_earlier_wave(fullstack: Plan) -> None:
    w = lambda kind, name: _wave(fullstack, kind, name)  # noqa: E731
    crd = w("CustomResourceDefinition", "widgets.widgets.helmguard.test")
    assert w("Namespace", "demo-ns") < w("ServiceAccount", "demo-fs")
    assert crd < w("Widget", "demo-fs-small")
    assert w("ServiceAccount", "demo-fs") < w("Widget", "demo-fs-large")
    deployment = w("Deployment", "demo-fs")
    for kind, name in (
        ("ServiceAccount", "demo-fs"),
        ("ConfigMap", "demo-fs-config"),
        ("Secret", "demo-fs-credentials"),
    ):
        assert w(kind, name) < deployment
    assert w("Role", "demo-fs-reader") < w("RoleBinding", "demo-fs-reader")
    assert w("ServiceAccount", "demo-fs") < w("RoleBinding", "demo-fs-reader")
    assert w("ClusterRole", "demo-ns-demo-fs-widgets") < w(
        "ClusterRoleBinding", "demo-ns-demo-fs-widgets"
    )
    # No edge between each wave's members and the next wave's: everything that can go together does.
    edges = {(e.before, e.after) for e in fullstack.edges}
    for wave in fullstack.waves:
        for a in wave.refs:
            for b in wave.refs:
                assert (a, b) not in edges


def test_unrelated_objects_share_a_wave_in_helm_kind_order(fullstack: Plan) -> None:
    # The Service needs only the Namespace: it does not wait for RBAC as Helm's kind order would.
    assert _wave(fullstack, "Service", "demo-fs") == _wave(fullstack, "ConfigMap", "demo-fs-config")
    assert _wave(fullstack, "Service", "demo-fs") < _wave(fullstack, "Deployment", "demo-fs")
    for wave in fullstack.waves:
        ranks = [kind_rank(o.kind) for o in wave.objects]
        assert ranks == sorted(ranks)
    assert len(fullstack.waves) == 3


def test_each_wave_lists_what_it_waits_for(fullstack: Plan) -> None:
    deployment = ObjectRef("apps", "Deployment", "demo-ns", "demo-fs")
    wave = fullstack.waves[_wave(fullstack, "Deployment", "demo-fs")]
    needs = {(e.before.kind, e.why) for e in wave.needs if e.after == deployment}
    assert ("ServiceAccount", "spec.template.spec.serviceAccountName") in needs
    assert ("Secret", "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef") in needs
    assert ("ConfigMap", "spec.template.spec.volumes[0].configMap.name") in needs


def test_order_does_not_depend_on_input_order(fullstack: Plan) -> None:
    objects = list(fullstack.objects)
    for seed in range(5):
        random.Random(seed).shuffle(objects)
        again = build_plan(objects)
        assert [w.refs for w in again.waves] == [w.refs for w in fullstack.waves]


def test_uninstall_is_the_reverse(fullstack: Plan) -> None:
    waves = uninstall_order(fullstack)
    flat = [o.ref for wave in waves for o in wave]
    assert flat == list(reversed([o.ref for o in fullstack.objects]))
    assert flat[-1].kind in ("Namespace", "CustomResourceDefinition", "ClusterRole")


def test_seed_chart_order() -> None:
    rendered = render_chart(
        RenderRequest(chart=str(EXAMPLES / "vault-seed"), release="common", namespace="msga-cn")
    )
    plan = build_plan(rendered.objects)
    assert [[str(r) for r in w.refs] for w in plan.waves] == [
        ["Namespace msga-cn"],
        ["ConfigMap msga-cn/common-vault-config", "Service msga-cn/common-vault"],
        ["Deployment.apps msga-cn/common-vault"],
    ]


WEBHOOK = """
apiVersion: v1
kind: Service
metadata: {name: hooks, namespace: sys}
spec:
  selector: {app: hooks}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hooks, namespace: sys}
spec:
  selector: {matchLabels: {app: hooks}}
  template:
    metadata: {labels: {app: hooks, tier: admission}}
    spec:
      containers: [{name: hooks, image: hooks:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: unrelated, namespace: sys}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: other, image: other:1}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: policy}
webhooks:
  - name: policy.example.com
    clientConfig:
      service: {name: hooks, namespace: sys, path: /validate}
    admissionReviewVersions: [v1]
    sideEffects: None
    rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
"""


def test_webhook_configuration_after_its_service_and_workload() -> None:
    plan = build_plan(parse_objects(WEBHOOK))
    webhook = _wave(plan, "ValidatingWebhookConfiguration", "policy")
    assert _wave(plan, "Service", "hooks") < webhook
    assert _wave(plan, "Deployment", "hooks") < webhook
    # A workload the Service does not select gives no order.
    assert _wave(plan, "Deployment", "unrelated") == _wave(plan, "Deployment", "hooks")
    reasons = {e.why for e in plan.edges if e.after.name == "policy"}
    assert "webhooks[0].clientConfig.service.name" in reasons


QUOTA_AND_WAIT = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: app}
spec: {hard: {pods: "10"}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: app}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: db:1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: app
  annotations: {helmguard.io/wait-for: StatefulSet/db}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api:1}]}
"""


def test_quota_before_pods_and_wait_for_between_workloads() -> None:
    plan = build_plan(parse_objects(QUOTA_AND_WAIT))
    assert _wave(plan, "ResourceQuota", "compute") < _wave(plan, "StatefulSet", "db")
    assert _wave(plan, "StatefulSet", "db") < _wave(plan, "Deployment", "api")
    wait = [e for e in plan.edges if e.after.name == "api" and e.before.name == "db"]
    assert wait and wait[0].why == "metadata.annotations[helmguard.io/wait-for]"


def _wait_for_cycle() -> list[K8sObject]:
    docs = []
    for name, other in (("a", "b"), ("b", "c"), ("c", "a")):
        docs.append(
            f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: app
  annotations: {{helmguard.io/wait-for: Deployment/{other}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: i:1}}]}}
"""
        )
    return parse_objects("---".join(docs))


def test_cycles_are_broken_deterministically_and_reported() -> None:
    objects = _wait_for_cycle()
    plan = build_plan(objects)
    assert len(plan.cycles) == 1
    cycle = plan.cycles[0]
    assert [m.name for m in cycle.members] == ["a", "b", "c"]
    # The first member in Helm's order (then name) goes first: its incoming edge is ignored.
    assert [(e.before.name, e.after.name) for e in cycle.dropped] == [("b", "a")]
    assert [[r.name for r in w.refs] for w in plan.waves] == [["a"], ["c"], ["b"]]
    assert "dependency cycle among" in cycle.describe()
    assert "warning: dependency cycle" in plan_to_text(plan)
    assert build_plan(list(reversed(objects))).waves == plan.waves


HOOKS = """
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: app
  annotations: {helm.sh/hook: "pre-install,pre-upgrade", helm.sh/hook-weight: "5"}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: m:1}]}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b-settings
  namespace: app
  annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: "-1",
                helm.sh/hook-delete-policy: hook-succeeded}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a-settings
  namespace: app
  annotations: {helm.sh/hook: pre-install, helm.sh/hook-weight: "-1"}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  namespace: app
  annotations: {helm.sh/hook: post-install}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: s, image: s:1}]}}}
"""


def _hooks() -> list[Hook]:
    out = []
    for obj in parse_objects(HOOKS):
        ann = obj.annotations
        policies = tuple(p for p in ann.get("helm.sh/hook-delete-policy", "").split(",") if p)
        out.append(
            Hook(
                obj=obj,
                events=tuple(ann["helm.sh/hook"].split(",")),
                weight=int(ann.get("helm.sh/hook-weight", "0")),
                delete_policies=policies,
            )
        )
    return out


def test_hooks_by_event_then_weight_then_name() -> None:
    install = build_plan([], hooks=_hooks(), operation="install")
    assert [h.obj.name for h in install.pre_hooks] == ["a-settings", "b-settings", "migrate"]
    assert [h.obj.name for h in install.post_hooks] == ["smoke"]
    assert install.pre_hooks[0].policies == ("before-hook-creation",)
    assert install.pre_hooks[1].policies == ("hook-succeeded",)
    upgrade = build_plan([], hooks=_hooks(), operation="upgrade")
    assert [h.obj.name for h in upgrade.pre_hooks] == ["migrate"]
    assert upgrade.post_hooks == ()
    # Hooks are not part of the waves (Helm does not track them as release objects).
    assert install.waves == ()


def test_hooks_of_one_weight_by_name_then_kind_as_helm_sorts_them() -> None:
    # Helm: stable sort by kind (InstallOrder) when rendering, then by weight and name.
    docs = parse_objects(
        """
apiVersion: batch/v1
kind: Job
metadata: {name: certgen, namespace: app, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: certgen, namespace: app, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: certgen, namespace: app, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a-first, namespace: app, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: example.com/v1
kind: Zeta
metadata: {name: certgen, namespace: app, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: example.com/v1
kind: Alpha
metadata: {name: certgen, namespace: app, annotations: {helm.sh/hook: pre-install}}
"""
    )
    hooks = [Hook(obj=o, events=("pre-install",), weight=0, delete_policies=()) for o in docs]
    plan = build_plan([], hooks=hooks, operation="install")
    assert [(h.obj.kind, h.obj.name) for h in plan.pre_hooks] == [
        ("ConfigMap", "a-first"),
        ("ServiceAccount", "certgen"),
        ("RoleBinding", "certgen"),
        ("Job", "certgen"),
        ("Alpha", "certgen"),
        ("Zeta", "certgen"),
    ]


def test_chart_crds_come_first_and_are_marked() -> None:
    rendered = render_chart(
        RenderRequest(chart=str(CHARTS / "fullstack"), release="demo", namespace="demo-ns")
    )
    crds = [o for o in rendered.objects if o.kind == "CustomResourceDefinition"]
    others = [o for o in rendered.objects if o.kind != "CustomResourceDefinition"]
    plan = build_plan(others, crds=crds)
    crd = crds[0].ref
    assert plan.chart_crds == frozenset({crd})
    assert plan.wave_of(crd) == 0
    data = plan_to_dict(plan)
    assert data["chartCrds"] == [
        {
            "group": "apiextensions.k8s.io",
            "kind": "CustomResourceDefinition",
            "namespace": "",
            "name": crd.name,
        }
    ]
    # JSON carries keys only: a Secret's contents can never leak through a plan.
    assert "not-a-real-password" not in str(data)


def test_duplicates_and_unknown_operations_are_refused() -> None:
    objects = parse_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}")
    with pytest.raises(ValueError, match="rendered twice"):
        build_plan([*objects, *objects])
    with pytest.raises(ValueError, match="unknown operation"):
        build_plan(objects, operation="explode")
