"""Every class of the error taxonomy, produced by the real sandbox API server.

Each test makes Kubernetes refuse something for one reason and checks that `classify`
names that reason, keeps the Status verbatim, and says whether retrying helps.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from helmguard.kube.classifier import classify, retry
from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import ClusterConfig
from helmguard.kube.errors import (
    ApiError,
    Conflict,
    EscalationDenied,
    Invalid,
    KubeError,
    MissingDependency,
    NamespaceTerminating,
    PermissionDenied,
    PolicyViolation,
    QuotaExceeded,
    Transient,
    Unauthorized,
)
from helmguard.manifest import ObjectRef
from helmguard.sandbox.pki import generate_pki

from .conftest import api_error, closed_port, create, object_path, service_account_token

pytestmark = pytest.mark.sandbox


def _pod(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.example/app:1"}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], **spec},
    }


def _configmap(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **extra.pop("metadata", {})},
        **extra,
    }


def _common(err: KubeError, exc: ApiError, *, code: int, retryable: bool = False) -> None:
    """What every classified API error keeps: the raw Status and a message with a fix."""
    assert err.code == code == exc.http_status
    assert err.retryable is retryable
    assert err.status == exc.status  # verbatim
    assert err.api_message == exc.message
    assert err.message and err.fix


async def test_missing_service_account(kube: Kube, namespace: str) -> None:
    pod = _pod("common-vault-0", namespace, serviceAccountName="vault-svc")
    exc, err = await api_error(create(kube, pod), "missing_service_account")
    assert isinstance(err, MissingDependency)
    _common(err, exc, code=403)
    assert err.dependency == ObjectRef("", "ServiceAccount", namespace, "vault-svc")
    assert "error looking up service account" in err.api_message
    assert err.target.resource == "pods"
    assert err.target.namespace == namespace


async def test_missing_priority_class(kube: Kube, namespace: str) -> None:
    pod = _pod("p", namespace, priorityClassName="helmguard-absent")
    exc, err = await api_error(create(kube, pod), "missing_priority_class")
    assert isinstance(err, MissingDependency)
    _common(err, exc, code=403)
    assert err.dependency == ObjectRef("scheduling.k8s.io", "PriorityClass", "", "helmguard-absent")


async def test_missing_runtime_class(kube: Kube, namespace: str) -> None:
    pod = _pod("p", namespace, runtimeClassName="helmguard-absent")
    exc, err = await api_error(create(kube, pod), "missing_runtime_class")
    assert isinstance(err, MissingDependency)
    _common(err, exc, code=403)
    assert err.dependency == ObjectRef("node.k8s.io", "RuntimeClass", "", "helmguard-absent")


async def test_missing_namespace(kube: Kube) -> None:
    absent = f"absent-{uuid.uuid4().hex[:8]}"
    exc, err = await api_error(create(kube, _configmap("c", absent)), "missing_namespace")
    assert isinstance(err, MissingDependency)
    _common(err, exc, code=404)
    assert err.dependency == ObjectRef("", "Namespace", "", absent)


async def test_kind_not_served(kube: Kube) -> None:
    served = await kube.discovery.resources()
    with pytest.raises(MissingDependency, match='no matches for kind "Widget"'):
        served.lookup("widgets.example.com/v1", "Widget")
    # The same question asked of the API server directly: a plain-text 404 for the API.
    with pytest.raises(httpx2.HTTPStatusError) as info:
        await kube.get_json("/apis/widgets.example.com/v1/widgets")
    err = classify(info.value)
    assert isinstance(err, MissingDependency)
    assert err.code == 404 and err.status["message"] == info.value.response.text
    assert "widgets.widgets.example.com" in err.message


async def test_permission_denied(sandbox: Any, namespace: str) -> None:
    from helmguard.kube.config import load_config

    restricted = load_config(sandbox.kubeconfig, sandbox.restricted_context)
    async with Kube(restricted) as kube:
        call = create(kube, _configmap("c", namespace))
        exc, err = await api_error(call, "permission_denied")
    assert isinstance(err, PermissionDenied)
    _common(err, exc, code=403)
    assert (err.user, err.verb, err.resource, err.group, err.namespace) == (
        "alice",
        "create",
        "configmaps",
        "",
        namespace,
    )
    assert namespace in err.message and "alice" in err.fix


async def test_permission_denied_cluster_scope(sandbox: Any) -> None:
    from helmguard.kube.config import load_config

    restricted = load_config(sandbox.kubeconfig, sandbox.restricted_context)
    async with Kube(restricted) as kube:
        call = create(kube, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "nope"}})
        _, err = await api_error(call, "permission_denied_cluster")
    assert isinstance(err, PermissionDenied)
    assert (err.verb, err.resource, err.namespace) == ("create", "namespaces", "")
    assert "cluster scope" in err.message


async def test_escalation_denied(admin_config: ClusterConfig, kube: Kube, namespace: str) -> None:
    # A deployer allowed to create Roles, but not holding the rights it tries to grant.
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {
        "metadata": {"name": "role-writer"},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles"],
                "verbs": ["create"],
            }
        ],
    }
    await kube.send_json("POST", f"{rbac}/roles", role)
    token = await service_account_token(kube, namespace, "deployer")
    binding = {
        "metadata": {"name": "deployer-writes-roles"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "role-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    }
    await kube.send_json("POST", f"{rbac}/rolebindings", binding)
    greedy = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reads-secrets", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }
    async with Kube(admin_config.with_token(token)) as deployer:
        exc, err = await api_error(create(deployer, greedy), "escalation_denied")
    assert isinstance(err, EscalationDenied)
    _common(err, exc, code=403)
    assert err.user == f"system:serviceaccount:{namespace}:deployer"
    assert "secrets" in err.missing and "get" in err.missing


async def test_quota_exceeded(kube: Kube, namespace: str) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods", "namespace": namespace},
        "spec": {"hard": {"pods": "0"}},
    }
    await create(kube, quota)

    async def quota_counted() -> bool:
        got = await kube.get_json(await object_path(kube, quota, "no-pods"))
        return bool((got.get("status") or {}).get("hard"))

    deadline = time.monotonic() + 30
    while not await quota_counted():
        assert time.monotonic() < deadline, "the quota controller never filled in status"
        await asyncio.sleep(0.2)
    exc, err = await api_error(create(kube, _pod("p", namespace)), "quota_exceeded")
    assert isinstance(err, QuotaExceeded)
    _common(err, exc, code=403)
    assert err.quota == "no-pods"


async def test_namespace_terminating(kube: Kube, namespace: str) -> None:
    held = _configmap("held", namespace, metadata={"finalizers": ["helmguard.test/hold"]})
    await create(kube, held)
    await kube.send_json("DELETE", f"/api/v1/namespaces/{namespace}")
    try:
        exc, err = await api_error(
            create(kube, _configmap("late", namespace)), "namespace_terminating"
        )
        assert isinstance(err, NamespaceTerminating)
        _common(err, exc, code=403)
        assert namespace in err.fix
    finally:
        await kube.send_json(
            "PATCH",
            await object_path(kube, held, "held"),
            {"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )


async def test_pod_security(kube: Kube, namespace: str) -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    await kube.send_json(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        {"metadata": {"labels": labels}},
        content_type="application/merge-patch+json",
    )
    pod = _pod("priv", namespace, container={"securityContext": {"privileged": True}})
    exc, err = await api_error(create(kube, pod), "pod_security")
    assert isinstance(err, PolicyViolation)
    _common(err, exc, code=403)
    assert err.policy.startswith("PodSecurity restricted")


async def test_limit_range(kube: Kube, namespace: str) -> None:
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "small", "namespace": namespace},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "100m"}}]},
    }
    await create(kube, limits)
    pod = _pod("big", namespace, container={"resources": {"limits": {"cpu": "2"}}})
    exc, err = await api_error(create(kube, pod), "limit_range")
    assert isinstance(err, PolicyViolation)
    _common(err, exc, code=403)
    assert err.policy == "LimitRange"


async def test_validating_admission_policy(kube: Kube, namespace: str) -> None:
    name = f"no-forbidden-key-{namespace}"
    vap = "/apis/admissionregistration.k8s.io/v1"
    policy = {
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.data) || !('forbidden' in object.data)",
                    "message": "data.forbidden is not allowed",
                }
            ],
        },
    }
    binding = {
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    await kube.send_json("POST", f"{vap}/validatingadmissionpolicies", policy)
    await kube.send_json("POST", f"{vap}/validatingadmissionpolicybindings", binding)
    try:
        # The policy takes effect once the API server's informers have seen it.
        deadline = time.monotonic() + 30
        for attempt in range(1000):
            bad = _configmap(f"bad-{attempt}", namespace, data={"forbidden": "x"})
            try:
                await create(kube, bad)
            except ApiError:
                break
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never applied"
            await asyncio.sleep(0.3)
        exc, err = await api_error(
            create(kube, _configmap("bad", namespace, data={"forbidden": "x"})),
            "validating_admission_policy",
        )
        assert isinstance(err, PolicyViolation)
        _common(err, exc, code=exc.http_status)
        assert err.policy == f"ValidatingAdmissionPolicy {name}"
    finally:
        await kube.send_json("DELETE", f"{vap}/validatingadmissionpolicybindings/{name}")
        await kube.send_json("DELETE", f"{vap}/validatingadmissionpolicies/{name}")


async def _with_webhook(kube: Kube, namespace: str, client_config: dict[str, Any]) -> str:
    name = f"hg-{namespace}.helmguard.test"
    webhook = {
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": name,
                "clientConfig": client_config,
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                    }
                ],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 2,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            }
        ],
    }
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    await kube.send_json("POST", path, webhook)
    return f"{path}/{name}"


async def _first_webhook_error(
    kube: Kube, namespace: str, record: str
) -> tuple[ApiError, KubeError]:
    deadline = time.monotonic() + 30
    attempt = 0
    while True:
        attempt += 1
        try:
            await create(kube, _configmap(f"w-{attempt}", namespace))
        except ApiError as exc:
            if "webhook" in exc.message:
                return await api_error(_raise(exc), record)
        assert time.monotonic() < deadline, "the webhook never applied"
        await asyncio.sleep(0.3)


async def _raise(exc: BaseException) -> None:
    raise exc


async def test_webhook_service_missing(kube: Kube, namespace: str) -> None:
    service = {"namespace": namespace, "name": "absent-webhook", "path": "/validate"}
    url = await _with_webhook(kube, namespace, {"service": service})
    try:
        exc, err = await _first_webhook_error(kube, namespace, "webhook_service_missing")
        assert isinstance(err, MissingDependency), err.api_message
        assert err.dependency == ObjectRef("", "Service", namespace, "absent-webhook")
        _common(err, exc, code=exc.http_status)
    finally:
        await kube.send_json("DELETE", url)


async def test_webhook_unreachable(kube: Kube, namespace: str) -> None:
    endpoint = f"https://127.0.0.1:{closed_port()}/validate"
    url = await _with_webhook(kube, namespace, {"url": endpoint})
    try:
        exc, err = await _first_webhook_error(kube, namespace, "webhook_unreachable")
        assert isinstance(err, Transient), err.api_message
        _common(err, exc, code=exc.http_status, retryable=True)
    finally:
        await kube.send_json("DELETE", url)


async def test_invalid(kube: Kube, namespace: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ports": [{"port": 70000, "targetPort": 8080}]},
    }
    exc, err = await api_error(create(kube, service), "invalid")
    assert isinstance(err, Invalid)
    _common(err, exc, code=422)
    fields = {c.field for c in err.causes}
    assert "spec.ports[0].port" in fields
    assert "spec.ports[0].port" in err.message


def _deployment(namespace: str, replicas: Any = 1, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": "web"}
    containers = [{"name": "web", "image": "registry.example/web:1"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": containers, **pod_spec},
            },
        },
    }


def _apply(kube: Kube, body: dict[str, Any]) -> Any:
    path = f"/apis/apps/v1/namespaces/{body['metadata']['namespace']}/deployments/web"
    return kube.send_json(
        "PATCH",
        path,
        body,
        params={"fieldManager": "helm"},
        content_type="application/apply-patch+yaml",
    )


async def test_a_wrong_type_applied_is_invalid_not_a_server_failure(
    kube: Kube, namespace: str
) -> None:
    # `--set nodeSelector.k=true`: server-side apply answers 500, which no retry changes.
    body = _deployment(namespace, nodeSelector={"k": True})
    exc, err = await api_error(_apply(kube, body), "typed_patch_wrong_type")
    assert isinstance(err, Invalid), err.api_message
    _common(err, exc, code=500)
    assert "failed to create typed patch object" in err.api_message
    assert err.fields == ("spec.template.spec.nodeSelector.k",)
    assert "spec.template.spec.nodeSelector.k: expected string, got true" in err.message
    assert "--set-string" in err.fix

    body = _deployment(namespace, replicas="3", nodeSelector={"k": True})
    exc, err = await api_error(_apply(kube, body), "typed_patch_errors")
    assert isinstance(err, Invalid)
    _common(err, exc, code=500)
    assert err.fields == ("spec.replicas", "spec.template.spec.nodeSelector.k")
    assert "--set instead of --set-string" in err.fix and "--set-string key=value" in err.fix

    exc, err = await api_error(_apply(kube, _deployment(namespace, bogus=1)), "unknown_field")
    assert isinstance(err, Invalid)
    _common(err, exc, code=500)
    assert err.fields == ("spec.template.spec.bogus",) and "schema" in err.fix

    exc, err = await api_error(_apply(kube, _deployment(namespace, replicas=1.5)), "conversion")
    assert isinstance(err, Invalid), err.api_message
    _common(err, exc, code=500)
    assert "failed to convert new object" in err.api_message


async def test_a_wrong_type_created_is_invalid(kube: Kube, namespace: str) -> None:
    body = _deployment(namespace, replicas="3")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    exc, err = await api_error(kube.send_json("POST", path, body), "undecodable_body")
    assert isinstance(err, Invalid), err.api_message
    _common(err, exc, code=400)
    assert err.fields == ("spec.replicas",)
    assert "spec.replicas: expected int32, got string" in err.message
    assert "--set instead of --set-string" in err.fix


async def _apply_configmap(kube: Kube, body: dict[str, Any], manager: str) -> Any:
    """Server-side apply of a ConfigMap as field manager `manager` (not forced)."""
    return await kube.send_json(
        "PATCH",
        await object_path(kube, body, body["metadata"]["name"]),
        body,
        params={"fieldManager": manager},
        content_type="application/apply-patch+yaml",
    )


async def test_ssa_conflict(kube: Kube, namespace: str) -> None:
    await _apply_configmap(kube, _configmap("shared", namespace, data={"key": "a"}), "one")
    call = _apply_configmap(kube, _configmap("shared", namespace, data={"key": "b"}), "two")
    exc, err = await api_error(call, "ssa_conflict")
    assert isinstance(err, Conflict)
    _common(err, exc, code=409)
    assert err.managers == ("one",)
    assert ".data.key" in err.message


async def test_optimistic_lock_conflict(kube: Kube, namespace: str) -> None:
    raced = _configmap("raced", namespace, data={"n": "0"})
    await create(kube, raced)
    path = await object_path(kube, raced, "raced")
    mine = await kube.get_json(path)
    theirs = await kube.get_json(path)
    await kube.send_json("PUT", path, {**theirs, "data": {"n": "1"}})
    exc, err = await api_error(
        kube.send_json("PUT", path, {**mine, "data": {"n": "2"}}), "optimistic_lock"
    )
    assert isinstance(err, Conflict)
    _common(err, exc, code=409, retryable=True)


async def test_unauthorized(admin_config: ClusterConfig) -> None:
    async with Kube(admin_config.with_token("not-a-valid-token")) as kube:
        exc, err = await api_error(kube.version(), "unauthorized")
    assert isinstance(err, Unauthorized)
    _common(err, exc, code=401)
    with pytest.raises(Unauthorized):
        await connect_config(admin_config.with_token("not-a-valid-token"), timeout=5)


async def test_unreachable_server_is_transient(admin_config: ClusterConfig) -> None:
    from dataclasses import replace

    port = closed_port()
    gone = replace(
        admin_config, target=replace(admin_config.target, server=f"https://127.0.0.1:{port}")
    )
    async with Kube(gone) as kube:
        with pytest.raises(Exception) as raw:  # the transport's own error, unclassified
            await kube.version()
    err = classify(raw.value)
    assert isinstance(err, Transient)
    assert err.retryable and str(port) in err.message
    started = time.monotonic()
    with pytest.raises(Transient) as info:
        await connect_config(gone, timeout=1.5)
    assert 1.0 < time.monotonic() - started < 5
    assert any("gave up after" in n for n in info.value.__notes__)


async def test_retry_recovers(kube: Kube) -> None:
    calls = 0

    async def flaky() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls < 3:
            # A genuine connection failure, from a port nobody listens on.
            async with httpx2.AsyncClient() as c:
                await c.get(f"http://127.0.0.1:{closed_port()}/")
        return await kube.version()

    version = await retry(flaky, timeout=10)
    assert calls == 3 and version["gitVersion"].startswith("v1.")


class _DenyingWebhook(http.server.BaseHTTPRequestHandler):
    """A real validating webhook (HTTPS on loopback) that denies every request it reviews."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {
                "uid": review["request"]["uid"],
                "allowed": False,
                "status": {"code": 403, "message": "configmaps need an owner label"},
            },
        }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_webhook_denied(kube: Kube, namespace: str, tmp_path: Path) -> None:
    generate_pki(tmp_path)  # its serving cert has SAN 127.0.0.1; its CA goes in caBundle
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "apiserver.crt", tmp_path / "apiserver.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyingWebhook)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_config = {
        "url": f"https://127.0.0.1:{server.server_address[1]}/validate",
        "caBundle": base64.b64encode((tmp_path / "ca.crt").read_bytes()).decode(),
    }
    url = await _with_webhook(kube, namespace, client_config)
    try:
        exc, err = await _first_webhook_error(kube, namespace, "webhook_denied")
        assert isinstance(err, PolicyViolation), err.api_message
        _common(err, exc, code=403)
        assert err.policy == f"webhook hg-{namespace}.helmguard.test"
        assert "configmaps need an owner label" in err.message
    finally:
        await kube.send_json("DELETE", url)
        server.shutdown()
        server.server_close()
