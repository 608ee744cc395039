"""Credentials the sandbox accepts: exec plugins (v1beta1 and v1), in-cluster token files.

The exec plugin is a real program written by the test; it prints a ServiceAccount token
obtained from the TokenRequest API. Identity is checked with a SelfSubjectReview.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helmguard.kube.client import Kube, connect
from helmguard.kube.config import EXEC_API_VERSIONS, load_config

from .conftest import service_account_token

pytestmark = pytest.mark.sandbox

REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}

# Prints an ExecCredential; every run appends a line to RUNS. With BAD_FIRST, the first run
# hands out a wrong token (an expired credential, as far as the server can tell).
PLUGIN = """
import datetime, json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["apiVersion"] == API_VERSION and info["spec"]["interactive"] is False, info
with open(RUNS, "a") as f:
    f.write("run\\n")
runs = sum(1 for _ in open(RUNS))
token = "wrong" if BAD_FIRST and runs == 1 else TOKEN
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=LIFETIME)
print(json.dumps({"apiVersion": API_VERSION, "kind": "ExecCredential", "status": {
    "token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


async def _viewer_token(kube: Kube, namespace: str, name: str) -> str:
    token = await service_account_token(kube, namespace, name)
    binding = {
        "metadata": {"name": f"{name}-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"
    await kube.send_json("POST", path, binding)
    return token


def _exec_kubeconfig(
    sandbox: Any, tmp_path: Path, api_version: str, token: str, *, lifetime: int, bad_first: bool
) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    runs.touch()
    script = tmp_path / "plugin.py"
    constants = (
        f"API_VERSION = {api_version!r}\nRUNS = {str(runs)!r}\nTOKEN = {token!r}\n"
        f"LIFETIME = {lifetime}\nBAD_FIRST = {bad_first}\n"
    )
    script.write_text(f"#!{sys.executable}\n{constants}{PLUGIN}")
    script.chmod(0o755)
    admin = yaml.safe_load(sandbox.kubeconfig.read_text())
    exec_spec: dict[str, Any] = {"apiVersion": api_version, "command": str(script)}
    if api_version.endswith("/v1"):
        exec_spec["interactiveMode"] = "Never"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "plugin-user", "user": {"exec": exec_spec}}],
        "contexts": [{"name": "plugin", "context": {"cluster": "sandbox", "user": "plugin-user"}}],
        "current-context": "plugin",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path, runs


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize("api_version", EXEC_API_VERSIONS)
async def test_exec_plugin(
    sandbox: Any, kube: Kube, namespace: str, tmp_path: Path, api_version: str
) -> None:
    token = await _viewer_token(kube, namespace, "exec-user")
    path, runs = _exec_kubeconfig(
        sandbox, tmp_path, api_version, token, lifetime=3600, bad_first=False
    )
    async with await connect(path) as plugin_kube:
        assert plugin_kube.target.auth == f"exec {api_version}"
        review = await plugin_kube.send_json(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", REVIEW
        )
        assert (
            review["status"]["userInfo"]["username"]
            == f"system:serviceaccount:{namespace}:exec-user"
        )
        listed = await plugin_kube.get_json(f"/api/v1/namespaces/{namespace}/configmaps")
        assert any(c["metadata"]["name"] == "kube-root-ca.crt" for c in listed["items"])
        assert plugin_kube.requests == 3
    assert _runs(runs) == 1  # cached until its expirationTimestamp


async def test_exec_credential_refreshed_when_expiring(
    sandbox: Any, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    token = await _viewer_token(kube, namespace, "short-lived")
    # Lifetime inside the refresh margin: every request needs a new credential.
    path, runs = _exec_kubeconfig(
        sandbox, tmp_path, EXEC_API_VERSIONS[1], token, lifetime=5, bad_first=False
    )
    async with await connect(path) as plugin_kube:
        await plugin_kube.version()
        # connect obtains the credential before its first request, then each request
        # finds it expiring and runs the plugin again.
        assert plugin_kube.requests == 2
        assert _runs(runs) == plugin_kube.requests + 1


async def test_exec_plugin_rerun_after_401(
    sandbox: Any, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    token = await _viewer_token(kube, namespace, "rejected-once")
    path, runs = _exec_kubeconfig(
        sandbox, tmp_path, EXEC_API_VERSIONS[1], token, lifetime=3600, bad_first=True
    )
    async with await connect(path) as plugin_kube:
        review = await plugin_kube.send_json(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", REVIEW
        )
        assert review["status"]["userInfo"]["username"].endswith(":rejected-once")
        # connect's GET /version got a 401 with the wrong token, then succeeded with a new one.
        assert plugin_kube.requests == 3
    assert _runs(runs) == 2


async def test_in_cluster_token_file_is_reread(
    sandbox: Any, kube: Kube, namespace: str, tmp_path: Path
) -> None:
    first = await service_account_token(kube, namespace, "pod-identity")
    second = await service_account_token(kube, namespace, "rotated-identity")
    admin = load_config(sandbox.kubeconfig, sandbox.admin_context)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(first)
    (sa / "ca.crt").write_bytes(admin.ca_pem or b"")
    (sa / "namespace").write_text(namespace)
    host, port = admin.target.server.removeprefix("https://").rsplit(":", 1)
    env = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    config = load_config(environ=env, service_account_dir=sa)
    assert config.target.namespace == namespace
    url = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    async with Kube(config) as pod_kube:
        review = await pod_kube.send_json("POST", url, REVIEW)
        assert review["status"]["userInfo"]["username"].endswith(":pod-identity")
        (sa / "token").write_text(second)  # the kubelet rotates the projected token
        stat = (sa / "token").stat()
        os.utime(sa / "token", (stat.st_atime, stat.st_mtime + 5))
        review = await pod_kube.send_json("POST", url, REVIEW)
        assert review["status"]["userInfo"]["username"].endswith(":rotated-identity")


async def test_untrusted_server_certificate(sandbox: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from helmguard.kube.client import connect_config
    from helmguard.kube.errors import KubeConfigError
    from helmguard.sandbox.pki import generate_pki

    generate_pki(tmp_path)  # another CA, which did not sign the sandbox's serving cert
    admin = load_config(sandbox.kubeconfig, sandbox.admin_context)
    stranger = replace(admin, ca_pem=(tmp_path / "ca.crt").read_bytes())
    with pytest.raises(KubeConfigError, match="not trusted") as info:
        await connect_config(stranger, timeout=5)
    assert "certificate-authority" in info.value.fix


async def test_impersonation(sandbox: Any, namespace: str) -> None:
    from helmguard.kube.classifier import classify
    from helmguard.kube.errors import PermissionDenied

    admin = load_config(sandbox.kubeconfig, sandbox.admin_context)
    async with Kube(admin.impersonating("bob", ["dev", "qa"])) as as_bob:
        review = await as_bob.send_json(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", REVIEW
        )
        info = review["status"]["userInfo"]
        assert info["username"] == "bob"
        assert {"dev", "qa"} <= set(info["groups"])
        with pytest.raises(Exception) as raised:
            await as_bob.send_json(
                "POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}}
            )
    err = classify(raised.value)
    assert isinstance(err, PermissionDenied) and err.user == "bob"
