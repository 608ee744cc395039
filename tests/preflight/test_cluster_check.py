"""`check` against the real sandbox API server: live lookups, cluster state, dry run.

Every test asserts what the cluster would say and that nothing was written to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.preflight.findings import Severity
from helmguard.sandbox.cluster import STORAGE_CLASS
from kubeapi import create_namespace, delete_namespace, wait_until

from .clusterkit import (
    SEED,
    assert_nothing_created,
    codes,
    only,
    run_check,
    write_chart,
)

pytestmark = pytest.mark.sandbox

SEED_NS = "msga-cn"


@pytest.fixture
def msga_cn(admin_http: httpx.Client) -> Any:
    """The seed's namespace msga-cn, fresh, deleted (and waited for) afterwards."""
    if admin_http.get(f"/api/v1/namespaces/{SEED_NS}").status_code == 200:
        delete_namespace(admin_http, SEED_NS, wait=True)
    create_namespace(admin_http, SEED_NS)
    yield SEED_NS
    delete_namespace(admin_http, SEED_NS, wait=True)


def test_seed_chart_is_reported_and_nothing_is_created(
    sandbox: Any, admin_http: httpx.Client, msga_cn: str
) -> None:
    report = run_check(
        sandbox, SEED, msga_cn, release="common", set_values=("namespace.create=false",)
    )
    assert not report.offline and report.cluster is not None
    finding = only(report, "HG101")
    assert finding.severity is Severity.ERROR
    assert (finding.object.kind, finding.object.name) == ("Deployment", "common-vault")
    assert finding.target is not None and finding.target.name == "vault-svc"
    assert "msga-cn/vault-svc" in finding.message
    # The very words the API server answered for a pod of the template (a dry-run pod).
    assert (
        'pods "common-vault-" is forbidden: error looking up service account '
        'msga-cn/vault-svc: serviceaccount "vault-svc" not found' in finding.predicted
    )
    assert [f.code for f in report.findings if f.severity >= Severity.WARNING] == ["HG101"]
    assert report.cluster.dry_run_verified == 3  # ConfigMap, Service, Deployment accepted
    assert_nothing_created(admin_http, msga_cn)

    created = admin_http.post(
        f"/api/v1/namespaces/{msga_cn}/serviceaccounts", json={"metadata": {"name": "vault-svc"}}
    )
    assert created.status_code == 201, created.text
    again = run_check(
        sandbox, SEED, msga_cn, release="common", set_values=("namespace.create=false",)
    )
    assert again.findings == ()
    sas = admin_http.get(f"/api/v1/namespaces/{msga_cn}/serviceaccounts").json()["items"]
    assert {s["metadata"]["name"] for s in sas} == {"default", "vault-svc"}


def test_seed_with_its_own_namespace_is_not_verifiable_until_created(
    sandbox: Any, admin_http: httpx.Client
) -> None:
    if admin_http.get(f"/api/v1/namespaces/{SEED_NS}").status_code == 200:
        delete_namespace(admin_http, SEED_NS, wait=True)
    report = run_check(sandbox, SEED, SEED_NS, release="common")
    sa = only(report, "HG101")
    assert sa.severity is Severity.ERROR
    later = [f for f in report.findings if f.code == "HG228"]
    assert {f.object.kind for f in later} == {"ConfigMap", "Service", "Deployment"}
    assert all("namespace msga-cn is created" in f.message for f in later)
    assert all(f.severity is Severity.INFO for f in later)
    assert admin_http.get(f"/api/v1/namespaces/{SEED_NS}").status_code == 404


def test_release_namespace_missing_unless_create_namespace(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client
) -> None:
    chart = write_chart(
        tmp_path, "plain", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}
    )
    missing = run_check(sandbox, chart, "nowhere-ns")
    finding = only(missing, "HG117")
    assert finding.severity is Severity.ERROR and 'namespaces "nowhere-ns" not found' in (
        finding.predicted
    )
    allowed = run_check(sandbox, chart, "nowhere-ns", create_namespace=True)
    assert "HG117" not in codes(allowed)
    assert [f.code for f in allowed.findings] == ["HG228"]
    assert admin_http.get("/api/v1/namespaces/nowhere-ns").status_code == 404


def test_terminating_namespace(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client, namespace: str
) -> None:
    # A ConfigMap with a finalizer of ours keeps the namespace Terminating until released.
    holder = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "holder", "finalizers": ["helmguard.test/hold"]},
    }
    assert (
        admin_http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=holder).status_code
        == 201
    )
    admin_http.delete(f"/api/v1/namespaces/{namespace}")
    wait_until(
        lambda: (
            admin_http.get(f"/api/v1/namespaces/{namespace}").json().get("status", {}).get("phase")
            == "Terminating"
        ),
        "namespace Terminating",
    )
    chart = write_chart(
        tmp_path, "plain", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}
    )
    try:
        report = run_check(sandbox, chart, namespace)
        finding = only(report, "HG200")
        assert finding.severity is Severity.ERROR
        assert "because it is being terminated" in finding.predicted
        assert finding.object.kind == "ConfigMap"
    finally:
        admin_http.patch(
            f"/api/v1/namespaces/{namespace}/configmaps/holder",
            json={"metadata": {"finalizers": None}},
            headers={"Content-Type": "application/merge-patch+json"},
        )


def test_custom_resource_of_an_unserved_kind(sandbox: Any, tmp_path: Path, namespace: str) -> None:
    chart = write_chart(
        tmp_path,
        "cr",
        {
            "cr.yaml": """\
            apiVersion: widgets.example.test/v1
            kind: Widget
            metadata: {name: w}
            spec: {size: 3}
            """
        },
    )
    report = run_check(sandbox, chart, namespace)
    finding = only(report, "HG116")
    assert finding.severity is Severity.ERROR
    assert finding.target is not None and finding.target.name == "widgets.widgets.example.test"
    assert "does not exist in the cluster" in finding.message
    assert 'no matches for kind "Widget"' in finding.predicted


def test_custom_resource_with_its_crd_in_the_chart_waits_for_it(
    sandbox: Any, tmp_path: Path, namespace: str
) -> None:
    chart = write_chart(
        tmp_path,
        "crd",
        {
            "crd.yaml": """\
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: gadgets.gadgets.example.test}
            spec:
              group: gadgets.example.test
              scope: Namespaced
              names: {plural: gadgets, singular: gadget, kind: Gadget}
              versions:
                - name: v1
                  served: true
                  storage: true
                  schema:
                    openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
            """,
            "cr.yaml": """\
            apiVersion: gadgets.example.test/v1
            kind: Gadget
            metadata: {name: g}
            """,
        },
    )
    report = run_check(sandbox, chart, namespace)
    finding = only(report, "HG228")
    assert finding.object.kind == "Gadget"
    assert "CustomResourceDefinition gadgets.gadgets.example.test is established" in (
        finding.message
    )
    assert report.findings == (finding,)
    assert report.cluster is not None and report.cluster.dry_run_verified == 1  # the CRD


_CLAIMS = {
    "pvc.yaml": """\
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: fast}
    spec:
      storageClassName: no-such-class
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
    """
}


@pytest.fixture
def no_default_storage_class(admin_http: httpx.Client) -> Iterator[None]:
    """The sandbox's StorageClass made non-default for one test, then default again."""
    path = f"/apis/storage.k8s.io/v1/storageclasses/{STORAGE_CLASS}"

    def mark(default: str) -> None:
        annotations = {"storageclass.kubernetes.io/is-default-class": default}
        answer = admin_http.patch(
            path,
            json={"metadata": {"annotations": annotations}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert answer.status_code == 200, answer.text

    mark("false")
    try:
        yield
    finally:
        mark("true")


def test_claim_without_class_uses_the_default_storage_class(
    sandbox: Any, tmp_path: Path, namespace: str
) -> None:
    report = run_check(sandbox, write_chart(tmp_path, "pvc", _CLAIMS), namespace)
    assert "HG202" not in codes(report)
    named = only(report, "HG108")
    assert named.object.name == "fast"


@pytest.mark.usefixtures("no_default_storage_class")
def test_claim_without_class_and_no_default_storage_class(
    sandbox: Any, tmp_path: Path, namespace: str
) -> None:
    report = run_check(sandbox, write_chart(tmp_path, "pvc", _CLAIMS), namespace)
    default = only(report, "HG202")
    assert default.severity is Severity.WARNING and default.object.name == "data"
    assert "will stay Pending" in default.message
    named = only(report, "HG108")
    assert named.object.name == "fast" and "Pending" in named.predicted


def test_pod_security_rejects_a_privileged_pod_in_dry_run(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client, namespace: str
) -> None:
    labels = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    answer = admin_http.patch(
        f"/api/v1/namespaces/{namespace}",
        json=labels,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    chart = write_chart(
        tmp_path,
        "priv",
        {
            "pod.yaml": """\
            apiVersion: v1
            kind: Pod
            metadata: {name: root}
            spec:
              containers:
                - name: app
                  image: registry.example.test/app:1
                  securityContext: {privileged: true}
            """
        },
    )
    report = run_check(sandbox, chart, namespace)
    finding = only(report, "HG223")
    assert finding.severity is Severity.ERROR
    assert 'violates PodSecurity "baseline:latest"' in finding.predicted
    assert "PolicyViolation" in finding.message
    assert_nothing = admin_http.get(f"/api/v1/namespaces/{namespace}/pods").json()["items"]
    assert assert_nothing == []


def test_resource_quota_exceeded_in_dry_run(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client, namespace: str
) -> None:
    quota = {"metadata": {"name": "two-maps"}, "spec": {"hard": {"count/configmaps": "2"}}}
    assert (
        admin_http.post(f"/api/v1/namespaces/{namespace}/resourcequotas", json=quota).status_code
        == 201
    )
    wait_until(
        lambda: (
            admin_http.get(f"/api/v1/namespaces/{namespace}/resourcequotas/two-maps")
            .json()
            .get("status", {})
            .get("used")
        ),
        "quota usage computed",
    )
    # kube-root-ca.crt already counts: one more fits, the second does not (dry runs
    # are admitted one by one, so each sees the namespace as it is).
    chart = write_chart(
        tmp_path,
        "quota",
        {
            "cm.yaml": """\
            apiVersion: v1
            kind: Secret
            metadata: {name: s}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: a}
            """
        },
    )
    fits = run_check(sandbox, chart, namespace)
    assert fits.findings == ()
    answer = admin_http.patch(
        f"/api/v1/namespaces/{namespace}/resourcequotas/two-maps",
        json={"spec": {"hard": {"count/configmaps": "1"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    wait_until(
        lambda: (
            admin_http.get(f"/api/v1/namespaces/{namespace}/resourcequotas/two-maps")
            .json()
            .get("status", {})
            .get("hard", {})
            .get("count/configmaps")
            == "1"
        ),
        "quota updated",
    )
    report = run_check(sandbox, chart, namespace)
    finding = only(report, "HG222")
    assert finding.object.kind == "ConfigMap" and "exceeded quota: two-maps" in finding.predicted
    assert names_after(admin_http, namespace) == {"kube-root-ca.crt"}


def names_after(api: httpx.Client, namespace: str) -> set[str]:
    items = api.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["items"]
    return {i["metadata"]["name"] for i in items}


CONFIGMAPS = """\
{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-{{ $i }}}
---
apiVersion: v1
kind: Pod
metadata: {name: pod-{{ $i }}}
spec:
  containers:
    - name: app
      image: registry.example.test/app:1
      envFrom: [{configMapRef: {name: "elsewhere-{{ $i }}"}}]
      env:
        - name: TOKEN
          valueFrom: {secretKeyRef: {name: "secret-{{ $i }}", key: token}}
{{- end }}
"""


def test_requests_do_not_grow_with_objects(sandbox: Any, tmp_path: Path, namespace: str) -> None:
    chart = write_chart(tmp_path, "many", {"all.yaml": CONFIGMAPS}, "count: 1\n")
    small = run_check(sandbox, chart, namespace, set_values=("count=10",), dry_run=False)
    big = run_check(sandbox, chart, namespace, set_values=("count=200",), dry_run=False)
    assert small.cluster is not None and big.cluster is not None
    assert small.objects == 20 and big.objects == 400
    # 10 vs 200 missing ConfigMaps and Secrets: one list per (kind, namespace) either way.
    assert small.cluster.list_requests == big.cluster.list_requests == 3
    assert small.cluster.requests["lookups"] == big.cluster.requests["lookups"]
    assert small.cluster.requests["rbac"] == big.cluster.requests["rbac"]
    assert sum(f.code == "HG102" for f in big.findings) == 200
    assert sum(f.code == "HG103" for f in big.findings) == 200
