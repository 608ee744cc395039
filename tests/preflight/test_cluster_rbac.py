"""RBAC preflight on the sandbox: the restricted identity's table, escalation via chart roles."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmguard.cli import main
from helmguard.kube.client import connect_config
from helmguard.kube.config import load_config

from .clusterkit import SEED, codes, only, run_check, write_chart

pytestmark = pytest.mark.sandbox

ALL = ("create", "delete", "get", "list", "patch", "watch")


def test_restricted_identity_gets_a_precise_table(sandbox: Any, namespace: str) -> None:
    report = run_check(
        sandbox,
        SEED,
        namespace,
        release="common",
        context=sandbox.restricted_context,
        set_values=("namespace.create=false",),
    )
    info = report.cluster
    assert info is not None and info.identity == "alice (groups: dev)"
    table = {
        (c.permission.verb, c.permission.group, c.permission.resource, c.permission.namespace)
        for c in info.permissions
    }
    expected = {
        (verb, group, resource, namespace)
        for group, resource in (("", "configmaps"), ("", "services"), ("apps", "deployments"))
        for verb in ALL
    } | {(verb, "", "secrets", namespace) for verb in ("create", "get", "list", "patch")}
    assert table == expected
    assert not any(c.allowed for c in info.permissions)
    denied = [f for f in report.findings if f.code == "HG210"]
    assert {f.target.kind for f in denied if f.target} == {
        "configmaps",
        "services",
        "deployments",
        "secrets",
    }
    deployments = next(f for f in denied if f.target and f.target.kind == "deployments")
    assert deployments.object.name == "common-vault"
    assert "alice (groups: dev) may not create, delete, get, list, patch, watch" in (
        deployments.message
    )
    assert (
        'User "alice" cannot get resource "deployments" in API group "apps" in the namespace'
        in deployments.predicted
    )
    # alice may not list ServiceAccounts either: the reference stays unverified, not guessed.
    assert "HG201" in codes(report)
    assert info.dry_run_verified == 0 and info.requests["dry-run"] == 0


def test_an_administrator_is_answered_by_the_wildcard_review(sandbox: Any, namespace: str) -> None:
    # The same chart as the restricted identity's table: every permission is in the
    # table, allowed by the one review of every verb on every resource.
    report = run_check(
        sandbox, SEED, namespace, release="common", set_values=("namespace.create=false",)
    )
    info = report.cluster
    assert info is not None and len(info.permissions) == 22
    assert all(c.allowed for c in info.permissions)
    assert all("every verb on every resource allowed" in c.reason for c in info.permissions)
    assert info.requests["rbac"] <= 4  # the wildcard reviews and the SelfSubjectReview


def test_as_deployer_prints_the_table(sandbox: Any, namespace: str) -> None:
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(SEED),
            "--release",
            "common",
            "-n",
            namespace,
            "--set",
            "namespace.create=false",
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "--kube-context",
            sandbox.restricted_context,
            "--as-deployer",
            "-v",
        ],
    )
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "permissions of alice (groups: dev)" in out
    assert "22 permissions, 22 denied" in out
    assert "deployments.apps" in out and "denied" in out
    assert "API requests" in result.stderr and "list calls" in result.stderr


ROLES = {
    "rbac.yaml": """\
    apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata: {name: secret-reader}
    rules:
      - apiGroups: [""]
        resources: [secrets]
        verbs: [get]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: secret-reader}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secret-reader}
    subjects: [{kind: ServiceAccount, name: default}]
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleBinding
    metadata: {name: config-reader}
    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: config-reader}
    subjects: [{kind: ServiceAccount, name: default}]
    """
}


def _deployer_token(api: httpx.Client, namespace: str) -> str:
    """A ServiceAccount that may manage roles, bindings and configmaps, but not secrets."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {
        "metadata": {"name": "deployer"},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "rolebindings"],
                "verbs": list(ALL),
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": list(ALL)},
        ],
    }
    binding = {
        "metadata": {"name": "deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    }
    cluster_role = {
        "metadata": {"name": f"config-reader-{namespace}"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    for path, body in (
        (f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "deployer"}}),
        (f"{rbac}/roles", role),
        (f"{rbac}/rolebindings", binding),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", cluster_role),
    ):
        answer = api.post(path, json=body)
        assert answer.status_code == 201, answer.text
    token = api.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/deployer/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return str(token.json()["status"]["token"])


def test_escalation_through_roles_of_the_chart(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client, namespace: str
) -> None:
    from helmguard.chart.render import RenderRequest
    from helmguard.preflight.check import check_cluster

    token = _deployer_token(admin_http, namespace)
    templates = {
        "rbac.yaml": ROLES["rbac.yaml"].replace("config-reader}", f"config-reader-{namespace}}}")
    }
    chart = write_chart(tmp_path, "roles", templates)
    config = load_config(sandbox.kubeconfig, sandbox.admin_context).with_token(token)

    async def go() -> Any:
        async with await connect_config(config) as kube:
            request = RenderRequest(chart=str(chart), release="r1", namespace=namespace)
            return await check_cluster(request, kube=kube)

    try:
        report = asyncio.run(go())
        assert report.cluster is not None
        assert report.cluster.identity.startswith(
            f"system:serviceaccount:{namespace}:deployer (groups: system:serviceaccounts"
        )
        role = only(report, "HG211")
        assert role.object.name == "secret-reader"
        assert f"get secrets in namespace {namespace}" in role.message
        assert "is attempting to grant RBAC permissions not currently held" in role.predicted
        bindings = {f.object.name: f for f in report.findings if f.code == "HG212"}
        # The chart's own Role is checked from the chart: the deployer lacks its rules.
        assert set(bindings) == {"secret-reader"}
        assert "get secrets" in bindings["secret-reader"].message
        # The ClusterRole binding is fine: the deployer holds get configmaps in the namespace.
        assert "config-reader" not in " ".join(bindings)
        # The release records need Secrets too, which the deployer may not touch.
        assert any(
            f.code == "HG210" and f.target and f.target.kind == "secrets" for f in report.findings
        )
    finally:
        admin_http.delete(
            f"/apis/rbac.authorization.k8s.io/v1/clusterroles/config-reader-{namespace}"
        )
