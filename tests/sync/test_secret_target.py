"""A cluster registered by a Secret is a deploy/status target like a kubeconfig cluster, on two
sandboxes: the session's is A (helmguard runs in it, the Secret is there), the second one B.

The CLI (KUBECONFIG: A) reads the Secret through the current context: `deploy --cluster b`
puts the release in B, `status --cluster b` (store and --live) says Ready, `uninstall` removes
it from B. A Secret gone, unreadable (the current context may not read Secrets) or malformed:
exit 2 naming the Secret, nothing written. serve on A: POST /api/deploy?cluster=b deploys to B
with the token rotated in the Secret after serve started (the old one revoked), the uninstall
through the API removes it; with the Secret malformed, then deleted, the API answers 409
naming it, nothing written.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard import goyaml
from helmguard.kube.config import load_config
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until
from processes import helmguard, start_serve
from secondbox import Second
from sync.test_cluster_secret import _secret, _token
from sync.test_clusters import AUTH, CHARTS, TOKEN, _get

pytestmark = pytest.mark.sandbox


def test_a_secret_cluster_is_a_deploy_and_status_target(
    sandbox: Sandbox,
    namespace: str,
    admin_http: httpx.Client,
    second: Second,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    b = second.load()
    ns = f"cst-{uuid.uuid4().hex[:8]}"
    with b.admin_http() as api_b:
        create_namespace(api_b, ns)
    try:
        _journey(sandbox, namespace, admin_http, b, ns, processes, tmp_path)
    finally:
        with b.admin_http() as api_b, contextlib.suppress(httpx.HTTPError):
            for account in ("hg-1", "hg-2"):
                api_b.delete(
                    f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{ns}-{account}"
                )
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
    secrets = f"/api/v1/namespaces/{home_ns}/secrets"
    with b.admin_http() as api_b:
        tokens = [_token(api_b, ns, "hg-1"), _token(api_b, ns, "hg-2")]
    ca = load_config(b.kubeconfig, b.admin_context).ca_pem
    assert ca is not None
    connection = {"server": b.server, "token": tokens[0], "ca.crt": ca}
    for name in ("cluster-b", "gone", "spoilt"):
        made = admin_http.post(secrets, json=_secret(name, connection))
        assert made.status_code == 201, made.text
    db = tmp_path / "helmguard.db"
    # A: its current context; the store for every command (history and list have no --db).
    env = {**os.environ, "KUBECONFIG": str(a.kubeconfig), "HELMGUARD_DB": str(db)}

    def cli(*args: str, environ: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            helmguard(*args), capture_output=True, text=True, env=environ,
            timeout=180, check=False,
        )  # fmt: skip

    for name, secret in (("b", "cluster-b"), ("gone", "gone"), ("spoilt", "spoilt")):
        added = cli("cluster", "add", name, "--secret", f"{home_ns}/{secret}")
        assert added.returncode == 0, added.stderr
    # Broken after registration: one deleted, one holding no connection any more.
    assert admin_http.delete(f"{secrets}/gone").is_success
    spoilt = admin_http.put(f"{secrets}/spoilt", json=_secret("spoilt", {"foo": "bar"}))
    assert spoilt.is_success, spoilt.text
    # A kubeconfig whose current context may not read Secrets (discovery only).
    restricted = goyaml.load(a.kubeconfig.read_bytes())
    restricted["current-context"] = a.restricted_context
    limited = tmp_path / "restricted.kubeconfig"
    limited.write_text(json.dumps(restricted))
    deploy = ["deploy", str(CHARTS / "labelled"), "--release", "web", "-n", ns]
    for args, environ, said in (
        (["--cluster", "gone"], env, f"there is no Secret {home_ns}/gone in the cluster"),
        (["--cluster", "spoilt"], env, f"Secret {home_ns}/spoilt has neither a 'kubeconfig'"),
        (["--cluster", "b"], {**env, "KUBECONFIG": str(limited)}, f"Secret {home_ns}/cluster-b"),
    ):
        refused = cli(*deploy, *args, environ=environ)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert said in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    for verb in (["status", "web"], ["uninstall", "web"], ["history", "web"], ["list"]):
        refused = cli(*verb, "-n", ns, "--cluster", "gone")
        assert refused.returncode == 2, (verb, refused.stderr)
        assert f"Secret {home_ns}/gone" in refused.stderr, (verb, refused.stderr)
    listed = json.loads(cli("cluster", "list", "-o", "json").stdout)
    assert {c["name"]: c["releases"] for c in listed} == {"b": 0, "gone": 0, "spoilt": 0}
    with b.admin_http() as api_b:
        assert api_b.get(f"/api/v1/namespaces/{ns}/configmaps/web-settings").status_code == 404

    # The CLI deploys to B through the Secret; status (store and live) says so.
    deployed = cli(*deploy, "--set", "greeting=from-cli", "--cluster", "b")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with b.admin_http() as api_b:
        cm = api_b.get(f"/api/v1/namespaces/{ns}/configmaps/web-settings").json()
        assert cm["data"]["greeting"] == "from-cli", cm
    assert admin_http.get(f"/api/v1/namespaces/{ns}").status_code == 404  # nothing in A
    for live in ([], ["--live"]):
        shown = cli("status", "web", "-n", ns, "--cluster", "b", "-o", "json", *live)
        assert shown.returncode == 0, shown.stderr
        told = json.loads(shown.stdout)
        assert told["app"]["state"] == "Ready", told
        assert told["read_from"] == "live", told  # no sync runs: read from B itself
    listed = json.loads(cli("cluster", "list", "-o", "json").stdout)
    assert {c["name"]: c["releases"] for c in listed}["b"] == 1

    # serve on A; the token rotated in the Secret and the old one revoked while it runs.
    serve = helmguard(
        "serve", "--db", str(db), "--kubeconfig", str(a.kubeconfig), "--kube-context",
        a.admin_context, "--all-clusters", "--cluster-grace", "2",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    _, base = start_serve(serve, processes, log, token=TOKEN, cwd=CHARTS)
    wait_until(lambda: _state(base, ns, "web") == "Ready", "serve to sync B's release", 90)
    shown = cli("status", "web", "-n", ns, "--cluster", "b", "-o", "json")
    told = json.loads(shown.stdout)
    assert told["read_from"] == "store" and told["app"]["state"] == "Ready", told
    rotated = admin_http.put(
        f"{secrets}/cluster-b", json=_secret("cluster-b", {**connection, "token": tokens[1]})
    )
    assert rotated.is_success, rotated.text
    wait_until(
        lambda: f"cluster b (Secret {home_ns}/cluster-b) changed" in log.read_text(),
        "serve to take the new connection",
        30,
    )
    with b.admin_http() as api_b:
        assert api_b.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/hg-1").is_success

    # POST /api/deploy?cluster=b deploys to B with the new token.
    body = {"chart": "labelled", "release": "api", "namespace": ns, "timeout": 60}
    op = _operation(base, "/api/deploy?cluster=b", body)
    assert op["result"]["ok"], op
    with b.admin_http() as api_b:
        assert api_b.get(f"/api/v1/namespaces/{ns}/configmaps/api-settings").status_code == 200
    wait_until(lambda: _state(base, ns, "api") == "Ready", "the API's release Ready in B", 60)
    assert "Unauthorized" not in log.read_text(), log.read_text()

    # Uninstall: the CLI's release and the API's, both gone from B.
    removed = cli("uninstall", "web", "-n", ns, "--cluster", "b")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    op = _operation(base, f"/api/releases/{ns}/api/uninstall?cluster=b", {"timeout": 60})
    assert op["result"]["ok"], op
    with b.admin_http() as api_b:
        for name in ("web", "api"):
            gone = api_b.get(f"/api/v1/namespaces/{ns}/configmaps/{name}-settings")
            assert gone.status_code == 404, (name, gone.text)

    # The Secret malformed, then deleted: the API refuses B as a target, naming it and why;
    # nothing written.
    body = {"chart": "labelled", "release": "late", "namespace": ns, "timeout": 60}
    malformed = admin_http.put(f"{secrets}/cluster-b", json=_secret("cluster-b", {"x": "y"}))
    assert malformed.is_success, malformed.text
    for said in ("has neither", "does not exist"):
        if said == "does not exist":
            assert admin_http.delete(f"{secrets}/cluster-b").is_success
        logged = f"Secret {home_ns}/cluster-b {said}"
        wait_until(lambda s=logged: s in log.read_text(), f"serve to log {logged!r}", 30)
        answer = httpx.post(f"{base}/api/deploy?cluster=b", json=body, headers=AUTH, timeout=30)
        assert answer.status_code == 409, answer.text
        assert logged in answer.json()["detail"], answer.text
    assert _get(f"{base}/api/releases/{ns}/late?cluster=b") is None
    with b.admin_http() as api_b:
        assert api_b.get(f"/api/v1/namespaces/{ns}/configmaps/late-settings").status_code == 404
    output = log.read_text()
    assert "Traceback" not in output, output
    # The connections stayed in memory: no token in serve's log nor in any database file.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("helmguard.db*"))
    for token in tokens:
        assert token not in output and token.encode() not in stored
        assert base64.b64encode(token.encode()) not in stored


def _state(base: str, ns: str, release: str) -> str | None:
    found = _get(f"{base}/api/releases/{ns}/{release}?cluster=b")
    return found["status"]["state"] if found and found.get("status") else None


def _operation(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start an operation through the API and wait until it ends."""
    started = httpx.post(f"{base}{path}", json=body, headers=AUTH, timeout=30)
    assert started.status_code == 202, started.text
    op_id = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        op = _get(f"{base}/api/operations/{op_id}")
        return op if op and op["state"] != "running" else None

    return dict(wait_until(ended, f"{path} to end", 120))
