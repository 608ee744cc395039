"""Cluster B registered by a Secret in cluster A (the cluster serve runs in), on two
sandboxes: the session's is A, the second one B.

B's connection is a ServiceAccount token of B (with B's server and CA) in Secret
`cluster-b` of A. `cluster add b --secret` refuses every wrong input with exit 2 and
nothing written; serve on A syncs the release helm installed in B (and, once `c` is
registered by POST /api/clusters with the same Secret, as cluster c too); the token rotated in
the Secret (and the old one revoked by deleting its ServiceAccount) → B still synced, a
change made in B stored; the Secret deleted → B's release Unknown naming the Secret and
/readyz naming it; the database file never holds either token.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmcli import Helm, helm_binary
from helmguard.kube.config import load_config
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until
from processes import helmguard, start_serve
from secondbox import Second
from sync.test_clusters import AUTH, CHARTS, TOKEN, _get

pytestmark = pytest.mark.sandbox


def _token(api: httpx.Client, namespace: str, account: str) -> str:
    """A new ServiceAccount `account` in B, cluster-admin, and a bound token of it."""
    made = api.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", json={"metadata": {"name": account}}
    )
    assert made.status_code == 201, made.text
    binding = {
        "metadata": {"name": f"{namespace}-{account}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }  # fmt: skip
    bound = api.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json=binding)
    assert bound.status_code == 201, bound.text
    asked = api.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        json={"spec": {"expirationSeconds": 3600}},
    )
    assert asked.status_code == 201, asked.text
    return str(asked.json()["status"]["token"])


def _secret(name: str, data: dict[str, str | bytes]) -> dict[str, Any]:
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    return {"metadata": {"name": name}, "data": encoded}


@pytest.fixture
def b_namespace(second: Second) -> Iterator[str]:
    name = f"csb-{uuid.uuid4().hex[:8]}"
    with second.load().admin_http() as api:
        create_namespace(api, name)
    yield name
    with second.load().admin_http() as api, contextlib.suppress(httpx.HTTPError):
        for account in ("hg-1", "hg-2"):
            api.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}-{account}")
        delete_namespace(api, name)


def test_a_cluster_registered_by_a_secret_follows_the_secret(
    sandbox: Sandbox,
    namespace: str,
    admin_http: httpx.Client,
    second: Second,
    b_namespace: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    b = second.load()
    home_ns, ns = namespace, b_namespace
    secrets = f"/api/v1/namespaces/{home_ns}/secrets"
    with b.admin_http() as api_b:
        tokens = [_token(api_b, ns, "hg-1"), _token(api_b, ns, "hg-2")]
    ca = load_config(b.kubeconfig, b.admin_context).ca_pem
    assert ca is not None
    connection = {"server": b.server, "token": tokens[0], "ca.crt": ca}
    made = admin_http.post(secrets, json=_secret("cluster-b", connection))
    assert made.status_code == 201, made.text
    for name, data in (
        ("no-keys", {"foo": "bar"}),
        ("bad-kubeconfig", {"kubeconfig": "{{ not yaml"}),
    ):
        assert admin_http.post(secrets, json=_secret(name, data)).status_code == 201
    helm = Helm(helm_binary(), b, tmp_path / "helm")
    helm.run("install", "web", str(CHARTS / "labelled"), "-n", ns)

    db = tmp_path / "helmguard.db"
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}  # A: the current context

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            helmguard(*args, "--db", str(db)), capture_output=True, text=True, env=env,
            timeout=120, check=False,
        )  # fmt: skip

    # Every input a user can get wrong: exit 2, the reason named, nothing registered.
    for args, said in (
        (["--secret", f"{home_ns}/cluster-b", "--kubeconfig", str(b.kubeconfig)], "not both"),
        ([], "give one of --kubeconfig FILE"),
        (["--secret", "cluster-b"], "is not NAMESPACE/NAME of a Secret"),
        (["--secret", f"{home_ns}/nope"], f"there is no Secret {home_ns}/nope in the cluster"),
        (["--secret", f"{home_ns}/no-keys"], "has neither a 'kubeconfig' key nor a 'server'"),
        (["--secret", f"{home_ns}/bad-kubeconfig"], "key kubeconfig: invalid YAML"),
        (["--secret", f"{home_ns}/cluster-b", "--context", "x"], "no context 'x' to pick"),
    ):
        refused = cli("cluster", "add", "b", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert said in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr
        assert cli("cluster", "list", "-o", "json").stdout.strip() == "[]"
    added = cli("cluster", "add", "b", "--secret", f"{home_ns}/cluster-b")
    assert added.returncode == 0, added.stderr
    assert f"Secret {home_ns}/cluster-b ({b.server})" in added.stdout, added.stdout

    serve = helmguard(
        "serve", "--db", str(db), "--kubeconfig", str(sandbox.kubeconfig), "--kube-context",
        sandbox.admin_context, "--all-clusters", "--cluster-grace", "2",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    proc, base = start_serve(serve, processes, log, token=TOKEN)
    detail = f"{base}/api/releases/{ns}/web?cluster=b"

    def status() -> dict[str, Any] | None:
        found = _get(detail)
        return found["status"] if found else None

    def state() -> str | None:
        found = status()
        return found["state"] if found else None

    wait_until(lambda: state() == "Ready", "B's helm release synced Ready", 90)
    # The API refuses what the CLI refuses (exactly one of kubeconfig and secret).
    both = {"name": "c", "secret": f"{home_ns}/cluster-b", "kubeconfig": str(b.kubeconfig)}
    for body, said in (
        (both, "exactly one of kubeconfig"),
        ({"name": "c", "secret": f"{home_ns}/nope"}, f"there is no Secret {home_ns}/nope"),
    ):
        answer = httpx.post(f"{base}/api/clusters", json=body, headers=AUTH, timeout=10)
        assert answer.status_code == 422 and said in answer.text, answer.text
    # Registered through the API while serve runs: followed, synced from the same Secret.
    body = {"name": "c", "secret": f"{home_ns}/cluster-b"}
    answer = httpx.post(f"{base}/api/clusters", json=body, headers=AUTH, timeout=10)
    assert answer.status_code == 201, answer.text
    detail_c = f"{base}/api/releases/{ns}/web?cluster=c"
    wait_until(lambda: (_get(detail_c) or {}).get("status", {}).get("state") == "Ready",
               "the release synced as cluster c too", 90)  # fmt: skip

    # The token rotated in the Secret, the old one revoked: B is still synced.
    rotated = admin_http.put(
        f"{secrets}/cluster-b",
        json=_secret("cluster-b", {**connection, "token": tokens[1]}),
    )
    assert rotated.is_success, rotated.text
    wait_until(
        lambda: f"cluster b (Secret {home_ns}/cluster-b) changed" in log.read_text(),
        "serve to take the new connection",
        30,
    )
    with b.admin_http() as api_b:
        revoked = api_b.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/hg-1")
        assert revoked.is_success, revoked.text
        gone = api_b.delete(f"/api/v1/namespaces/{ns}/configmaps/web-settings")
        assert gone.is_success, gone.text
    wait_until(lambda: state() == "Missing", "B's deleted ConfigMap stored Missing", 60)
    assert "Unauthorized" not in log.read_text(), log.read_text()

    # The Secret deleted: B's release Unknown, naming the Secret; /readyz names it.
    assert admin_http.delete(f"{secrets}/cluster-b").is_success
    wait_until(lambda: state() == "Unknown", "B's release Unknown", 60)
    unknown = status()
    assert unknown is not None and unknown["reason"] == "ClusterUnreachable", unknown
    assert f"Secret {home_ns}/cluster-b does not exist" in unknown["message"], unknown
    answer = wait_until(
        lambda: (r := httpx.get(f"{base}/readyz", timeout=5)).status_code == 503 and r,
        "/readyz naming B's Secret",
        30,
    )
    assert f"Secret {home_ns}/cluster-b does not exist" in answer.json()["detail"], answer.text
    listed = _get(f"{base}/api/clusters")
    for name in ("b", "c"):
        [item] = [c for c in listed if c["name"] == name]
        assert not item["reachable"] and "cluster-b" in item["unreachable"]["message"], item

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()
    output = log.read_text()
    assert "Traceback" not in output, output
    assert not [t for t in tokens if t in output]
    # The database holds the reference only: no token, in any form, in any of its files.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("helmguard.db*"))
    assert f"{home_ns}/cluster-b".encode() in stored
    for token in tokens:
        for form in (token.encode(), base64.b64encode(token.encode())):
            assert form not in stored
        assert token[-24:].encode() not in stored
