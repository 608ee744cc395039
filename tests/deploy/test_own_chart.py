"""helmguard's own chart (charts/helmguard) and image recipe (Dockerfile).

The chart is rendered by the real Helm engine; `helmguard check` of it is clean on the
sandbox; `helmguard deploy` and `helm install` both install it Ready (kwok runs the pods).
The Dockerfile cannot be built here (no image registry): it is held to installing from
the lockfile and to the entrypoint the package declares.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmguard.chart.render import RenderRequest, find_helm, render_chart
from helmguard.chart.source import ChartError
from helmguard.chart.values import ValuesOptions
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "helmguard"
TOKEN = "t" * 40


def _objects(*sets: str) -> list[dict[str, Any]]:
    rendered = render_chart(
        RenderRequest(str(CHART), release="hg", values=ValuesOptions(set_values=sets))
    )
    return [dict(o.body) for o in rendered.objects]


def _render(*sets: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The objects by kind and name (namespaces apart: see _objects)."""
    return {(o["kind"], o["metadata"]["name"]): o for o in _objects(*sets)}


def _rules(objects: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> list[Any]:
    return list(objects[(kind, name)]["rules"])


def test_dockerfile_installs_the_locked_dependencies_and_runs_the_declared_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copies = " ".join(re.findall(r"^COPY (.+)$", text, re.M))
    assert "uv.lock" in copies and "pyproject.toml" in copies and "src" in copies
    syncs = re.findall(r"^RUN (uv sync .+)$", text, re.M)
    # --frozen: exactly the lockfile's versions, and an error if it is out of date.
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = re.search(r"^ENTRYPOINT \[\"([^\"]+)\"\]$", text, re.M)
    assert entry is not None and Path(entry.group(1)).name in scripts
    assert re.search(r'^CMD \["serve"', text, re.M)
    assert re.search(r"^USER 10001", text, re.M)  # the chart's runAsUser
    kept = (ROOT / ".dockerignore").read_text().split()
    assert {"!uv.lock", "!pyproject.toml", "!src"} <= set(kept)


def test_chart_wires_probes_secrets_and_election() -> None:
    objects = _render()
    deployment = objects[("Deployment", "hg-helmguard")]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert env["HELMGUARD_DB"] == {"name": "helmguard-database", "key": "url"}
    assert env["HELMGUARD_API_TOKEN"] == {"name": "helmguard-api-token", "key": "token"}
    assert "--leader-elect" in container["args"]
    assert "--leader-elect-lease-duration=15" in container["args"]
    assert pod["serviceAccountName"] == "hg-helmguard"
    assert ("PodDisruptionBudget", "hg-helmguard") in objects
    assert ("Ingress", "hg-helmguard") not in objects
    assert ("Ingress", "hg-helmguard") in _render("ingress.enabled=true")
    # The Lease the replicas elect through: only that, in the release namespace.
    assert _rules(objects, "Role", "hg-helmguard-leader") == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "list", "watch", "create", "update"],
        }
    ]
    read = _rules(objects, "ClusterRole", "hg-helmguard-read")
    assert read == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    deploy = _rules(objects, "ClusterRole", "hg-helmguard-deploy")
    assert {v for r in deploy for v in r["verbs"]} == {"create", "update", "patch", "delete"}


def test_read_only_mode_grants_no_writes_and_namespaces_narrow_them() -> None:
    read_only = _render("rbac.readOnly=true")
    assert not [k for k in read_only if k[1].endswith("-deploy")]
    (container,) = read_only[("Deployment", "hg-helmguard")]["spec"]["template"]["spec"][
        "containers"
    ]
    assert "--read-only" in container["args"]
    narrowed = _objects("rbac.deployNamespaces={apps,web}")
    deploy_roles = [
        (o["kind"], o["metadata"].get("namespace"))
        for o in narrowed
        if "-deploy" in o["metadata"]["name"]
    ]
    assert sorted(deploy_roles) == [
        ("Role", "apps"),
        ("Role", "web"),
        ("RoleBinding", "apps"),
        ("RoleBinding", "web"),
    ]
    escalating = _render("rbac.allowRbacObjects=true")
    deploy = _rules(escalating, "ClusterRole", "hg-helmguard-deploy")
    verbs = {v for r in deploy for v in r["verbs"]}
    assert {"escalate", "bind"} <= verbs


def test_cluster_secrets_are_readable_by_name_only() -> None:
    assert not [k for k in _render() if k[1].endswith("-cluster-secrets")]
    objects = _render("clusterSecrets={cluster-b,cluster-c}")
    assert _rules(objects, "Role", "hg-helmguard-cluster-secrets") == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["cluster-b", "cluster-c"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = objects[("RoleBinding", "hg-helmguard-cluster-secrets")]
    assert binding["roleRef"]["name"] == "hg-helmguard-cluster-secrets"
    assert binding["subjects"][0]["name"] == "hg-helmguard"
    (container,) = objects[("Deployment", "hg-helmguard")]["spec"]["template"]["spec"]["containers"]
    assert "--all-clusters" in container["args"]


def _args(objects: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    (container,) = objects[("Deployment", "hg-helmguard")]["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


def test_cluster_secret_discovery_lists_secrets_of_the_release_namespace_only() -> None:
    off = _render()
    assert not [k for k in off if k[1].endswith("-cluster-discovery")]
    assert "--cluster-secrets-namespace=" in _args(off)  # no discovery, no 403s
    for sets in (
        ["clusterSecretDiscovery=true"],
        ["clusterSecretDiscovery=true", "rbac.readOnly=true"],
    ):
        objects = _objects(*sets)
        found = {(o["kind"], o["metadata"]["name"]): o for o in objects}
        role = found[("Role", "hg-helmguard-cluster-discovery")]
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}
        ], sets
        assert role["metadata"]["namespace"] == "default"  # the release namespace
        binding = found[("RoleBinding", "hg-helmguard-cluster-discovery")]
        assert binding["roleRef"]["name"] == "hg-helmguard-cluster-discovery"
        assert binding["subjects"][0]["name"] == "hg-helmguard"
        assert "--cluster-secrets-namespace=default" in _args(found), sets
        # Nothing else reads Secrets in a namespace: the read ClusterRole is cluster-wide.
        secret_roles = [
            o["metadata"]["name"]
            for o in objects
            if o["kind"] == "Role" and any("secrets" in r.get("resources", ()) for r in o["rules"])
        ]
        assert secret_roles == ["hg-helmguard-cluster-discovery"], secret_roles


def test_values_create_the_secrets_and_offline_check_is_clean() -> None:
    objects = _render("database.url=postgresql+asyncpg://u:p@db/hg", f"apiToken.value={TOKEN}")
    assert objects[("Secret", "hg-helmguard-database")]["stringData"] == {
        "url": "postgresql+asyncpg://u:p@db/hg"
    }
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(CHART),
            "--offline",
            "--set",
            "database.url=postgresql+asyncpg://u:p@db/hg",
            "--set",
            f"apiToken.value={TOKEN}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


# ---- on the sandbox ------------------------------------------------------------------------


def _secrets(admin_http: httpx.Client, namespace: str) -> None:
    for name, key, value in (
        ("helmguard-database", "url", "postgresql+asyncpg://hg@db.invalid/hg"),
        ("helmguard-api-token", "token", TOKEN),
    ):
        admin_http.post(
            f"/api/v1/namespaces/{namespace}/secrets",
            json={
                "metadata": {"name": name},
                "data": {key: base64.b64encode(value.encode()).decode()},
            },
        ).raise_for_status()


def _ready_replicas(admin_http: httpx.Client, namespace: str, name: str) -> int | None:
    response = admin_http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    if response.status_code != 200:
        return None
    ready = int(response.json().get("status", {}).get("readyReplicas") or 0)
    return ready if ready == 2 else None


@pytest.fixture
def release() -> str:
    return f"hg{uuid.uuid4().hex[:6]}"  # ClusterRoles are named after it: one per test


@pytest.fixture
def helm_env(sandbox: Sandbox, tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "helm"
    yield {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def test_check_is_clean_and_helmguard_deploy_installs_it_ready(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, release: str, tmp_path: Path
) -> None:
    _secrets(admin_http, namespace)
    common = ["--release", release, "-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)]
    checked = CliRunner().invoke(main, ["check", str(CHART), *common])
    assert checked.exit_code == 0, checked.output
    assert "no findings" in checked.output
    db = ["--db", str(tmp_path / "db.sqlite")]
    deployed = CliRunner().invoke(main, ["deploy", str(CHART), *common, *db])
    try:
        assert deployed.exit_code == 0, deployed.output
        wait_until(
            lambda: _ready_replicas(admin_http, namespace, f"{release}-helmguard"), "2 ready"
        )
    finally:
        gone = CliRunner().invoke(main, ["uninstall", release, "-n", namespace, *common[4:], *db])
        assert gone.exit_code == 0, gone.output
    cluster_role = f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{release}-helmguard-read"
    assert admin_http.get(cluster_role).status_code == 404


def test_helm_install_installs_it_ready(
    admin_http: httpx.Client, namespace: str, release: str, helm_env: dict[str, str]
) -> None:
    try:
        helm = str(find_helm())
    except ChartError as exc:
        pytest.skip(f"no helm binary: {exc}")
    _secrets(admin_http, namespace)

    def run(*args: str) -> None:
        done = subprocess.run(
            [helm, *args], env=helm_env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr

    run("install", release, str(CHART), "-n", namespace, "--wait", "--timeout", "180s")
    try:
        assert _ready_replicas(admin_http, namespace, f"{release}-helmguard") == 2
    finally:
        run("uninstall", release, "-n", namespace, "--wait")
