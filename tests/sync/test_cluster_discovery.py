"""Clusters discovered from labelled Secrets, on two sandboxes: serve runs "in" A (the
session's sandbox: the in-cluster environment of a pod, with its namespace as the default
discovery namespace) as the chart's ServiceAccount with only the chart's discovery Role
(`clusterSecretDiscovery=true`, rendered by Helm's engine), and B (the second) is reached
through the Secrets.

A Secret labelled helmguard.io/cluster=true created while serve runs is synced as the
cluster its `name` key names (`edge`), another as its own name (`b-two`); an unlabelled
one and one naming no DNS-1123 label are not; POST /api/deploy?cluster=edge deploys to B;
the label removed from `b-two` and the `edge` Secret deleted: each cluster's release
Unknown naming its Secret, serve still ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmcli import Helm, helm_binary
from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.kube.config import load_config
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until
from processes import helmguard, start_serve
from secondbox import Second
from sync.test_cluster_secret import _secret, _token
from sync.test_clusters import CHARTS, TOKEN, _get
from sync.test_secret_target import _operation

pytestmark = pytest.mark.sandbox

CHART = Path(__file__).parents[2] / "charts" / "helmguard"
LABEL = {"helmguard.io/cluster": "true"}


def _as_the_chart(
    admin_http: httpx.Client, sandbox: Sandbox, namespace: str, tmp_path: Path
) -> dict[str, str]:
    """The environment of a pod in `namespace` running as the chart's ServiceAccount, bound
    to nothing but the chart's cluster-discovery Role (in-cluster: no kubeconfig)."""
    rendered = render_chart(
        RenderRequest(
            str(CHART),
            release="hg",
            namespace=namespace,
            values=ValuesOptions(set_values=["clusterSecretDiscovery=true"]),
        )
    )
    plural = {"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings"}
    for obj in (o.body for o in rendered.objects):
        name = obj["metadata"]["name"]
        if obj["kind"] != "ServiceAccount" and not name.endswith("-cluster-discovery"):
            continue
        group = "api/v1" if obj["kind"] == "ServiceAccount" else "apis/rbac.authorization.k8s.io/v1"
        made = admin_http.post(
            f"/{group}/namespaces/{namespace}/{plural[obj['kind']]}", json=dict(obj)
        )
        assert made.status_code == 201, made.text
    asked = admin_http.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/hg-helmguard/token",
        json={"spec": {"expirationSeconds": 3600}},
    )
    assert asked.status_code == 201, asked.text
    config = load_config(sandbox.kubeconfig, sandbox.admin_context)
    mounted = tmp_path / "serviceaccount"
    mounted.mkdir()
    (mounted / "token").write_text(asked.json()["status"]["token"])
    (mounted / "ca.crt").write_bytes(config.ca_pem or b"")
    (mounted / "namespace").write_text(namespace)
    host, port = config.target.server.removeprefix("https://").rsplit(":", 1)
    return {
        "KUBECONFIG": "",
        "HOME": str(tmp_path),  # no ~/.kube/config either
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "HELMGUARD_SERVICE_ACCOUNT_DIR": str(mounted),
    }


def _labelled(name: str, data: dict[str, str | bytes]) -> dict[str, Any]:
    body = _secret(name, data)
    body["metadata"]["labels"] = dict(LABEL)
    return body


def test_labelled_secrets_are_clusters_followed_while_serve_runs(
    sandbox: Sandbox,
    namespace: str,
    admin_http: httpx.Client,
    second: Second,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    b = second.load()
    ns = f"csd-{uuid.uuid4().hex[:8]}"
    with b.admin_http() as api_b:
        create_namespace(api_b, ns)
    try:
        _journey(sandbox, namespace, admin_http, b, ns, processes, tmp_path)
    finally:
        with b.admin_http() as api_b, contextlib.suppress(httpx.HTTPError):
            api_b.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{ns}-hg-1")
            delete_namespace(api_b, ns)


def _journey(
    a: Sandbox,
    home_ns: str,
    admin_http: httpx.Client,
    b: Sandbox,
    ns: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    with b.admin_http() as api_b:
        token = _token(api_b, ns, "hg-1")
    ca = load_config(b.kubeconfig, b.admin_context).ca_pem
    assert ca is not None
    connection: dict[str, str | bytes] = {"server": b.server, "token": token, "ca.crt": ca}
    Helm(helm_binary(), b, tmp_path / "helm").run(
        "install", "web", str(CHARTS / "labelled"), "-n", ns
    )
    in_pod = _as_the_chart(admin_http, a, home_ns, tmp_path)

    # No --cluster-secrets-namespace: in-cluster, the pod's namespace is the default.
    serve = helmguard(
        "serve", "--db", str(tmp_path / "helmguard.db"), "--no-default-cluster",
        "--cluster-grace", "2",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    proc, base = start_serve(serve, processes, log, token=TOKEN, env=in_pod, cwd=CHARTS)
    said = f"syncing the Secrets helmguard.io/cluster=true in namespace {home_ns}"
    assert said in log.read_text(), log.read_text()
    secrets = f"/api/v1/namespaces/{home_ns}/secrets"

    def release(cluster: str) -> dict[str, Any] | None:
        found = _get(f"{base}/api/releases/{ns}/web?cluster={cluster}")
        return found["status"] if found and found.get("status") else None

    def state(cluster: str) -> str | None:
        found = release(cluster)
        return found["state"] if found else None

    made = [
        admin_http.post(secrets, json=_labelled("cluster-edge", {**connection, "name": "edge"})),
        admin_http.post(secrets, json=_labelled("b-two", connection)),
        admin_http.post(secrets, json=_secret("plain", connection)),
        admin_http.post(secrets, json=_labelled("odd", {**connection, "name": "Not_A_Label"})),
    ]
    assert all(m.status_code == 201 for m in made), [m.text for m in made]
    for cluster in ("edge", "b-two"):
        wait_until(lambda c=cluster: state(c) == "Ready", f"{cluster}'s release synced", 90)
    wait_until(
        lambda: f"cluster Secret {home_ns}/odd is not synced" in log.read_text(),
        "the odd name refused, naming the Secret",
        30,
    )
    assert "cannot name a cluster" in log.read_text()
    # A discovered cluster is a deploy target of the API.
    body = {"chart": "labelled", "release": "api", "namespace": ns, "timeout": 60}
    op = _operation(base, "/api/deploy?cluster=edge", body)
    assert op["result"]["ok"], op
    with b.admin_http() as api_b:
        assert api_b.get(f"/api/v1/namespaces/{ns}/configmaps/api-settings").status_code == 200
    names = {c["name"] for c in _get(f"{base}/api/clusters")}
    assert {"edge", "b-two"} <= names and not {"plain", "odd", "cluster-edge"} & names, names
    # And a target of the CLI run in the same pod: `--cluster edge` is found by its Secret
    # (no registration names it), for the store's view and for the cluster read now.
    db = ("--db", str(tmp_path / "helmguard.db"))
    for extra in ((), ("--live",)):
        told = subprocess.run(
            helmguard("status", "api", "-n", ns, "--cluster", "edge", "-o", "json", *db, *extra),
            capture_output=True, text=True, timeout=120, env={**os.environ, **in_pod},
        )  # fmt: skip
        assert told.returncode == 0, told.stderr
        shown = json.loads(told.stdout)
        assert shown["app"]["state"] == "Ready", shown
        assert shown["read_from"] == ("live" if extra else "store"), shown
    nowhere = subprocess.run(
        helmguard("status", "api", "-n", ns, "--cluster", "plain", *db),
        capture_output=True, text=True, timeout=120, env={**os.environ, **in_pod},
    )  # fmt: skip
    assert nowhere.returncode == 2, nowhere.stderr
    assert (
        f"no Secret labelled helmguard.io/cluster=true in namespace {home_ns} names it"
        in nowhere.stderr
    ), nowhere.stderr

    # The label removed: b-two stops, its release Unknown naming its Secret.
    unlabelled = admin_http.patch(
        f"{secrets}/b-two",
        json={"metadata": {"labels": {"helmguard.io/cluster": None}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert unlabelled.is_success, unlabelled.text
    wait_until(lambda: state("b-two") == "Unknown", "b-two's release Unknown", 60)
    told = release("b-two")
    assert told is not None and f"Secret {home_ns}/b-two" in told["message"], told
    # Deleted: edge stops the same way; the other is unaffected.
    assert admin_http.delete(f"{secrets}/cluster-edge").is_success
    wait_until(lambda: state("edge") == "Unknown", "edge's release Unknown", 60)
    told = release("edge")
    assert told is not None and told["reason"] == "ClusterUnreachable", told
    assert f"Secret {home_ns}/cluster-edge" in told["message"], told
    # Stopped on purpose: serve stays ready (no cluster it syncs is down).
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert proc.poll() is None
    output = log.read_text()
    assert "Traceback" not in output and token not in output, output
