"""The classifier on Status answers captured from the sandbox API server (tests/kube/fixtures).

Each fixture is a real response recorded by the sandbox tests (HELMGUARD_RECORD_FIXTURES=1);
here it is replayed into the ApiError `Kube` raises for such an answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helmguard.kube.classifier import classify
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

from .conftest import FIXTURES

EXPECTED: dict[str, type[KubeError]] = {
    "missing_service_account": MissingDependency,
    "missing_priority_class": MissingDependency,
    "missing_runtime_class": MissingDependency,
    "missing_namespace": MissingDependency,
    "webhook_service_missing": MissingDependency,
    "permission_denied": PermissionDenied,
    "permission_denied_cluster": PermissionDenied,
    "escalation_denied": EscalationDenied,
    "quota_exceeded": QuotaExceeded,
    "namespace_terminating": NamespaceTerminating,
    "pod_security": PolicyViolation,
    "limit_range": PolicyViolation,
    "validating_admission_policy": PolicyViolation,
    "invalid": Invalid,
    "typed_patch_wrong_type": Invalid,
    "typed_patch_errors": Invalid,
    "unknown_field": Invalid,
    "conversion": Invalid,
    "undecodable_body": Invalid,
    "ssa_conflict": Conflict,
    "optimistic_lock": Conflict,
    "unauthorized": Unauthorized,
    "webhook_unreachable": Transient,
    "webhook_denied": PolicyViolation,
}


def replay(name: str) -> tuple[dict[str, Any], ApiError]:
    """A captured response turned back into the ApiError `Kube` raised for it."""
    recorded = json.loads((FIXTURES / f"{name}.json").read_text())
    exc = ApiError(
        recorded["status"],
        http_status=recorded["code"],
        method=recorded["request"]["method"],
        url=recorded["request"]["url"],
        retry_after=recorded["headers"].get("Retry-After", ""),
    )
    return recorded, exc


def test_every_fixture_is_expected() -> None:
    discovery = {"apis_apps_v1", "apis_aggregated_apps"}  # not errors: test_discovery's
    recorded = {p.stem for p in Path(FIXTURES).glob("*.json")} - discovery
    assert recorded == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_class_and_raw_status(name: str) -> None:
    recorded, exc = replay(name)
    err = classify(exc)
    assert type(err) is EXPECTED[name], err.api_message
    assert err.status == recorded["status"]
    assert err.code == recorded["code"]
    assert err.message and err.fix
    assert classify(err) is err


def test_code_alone_does_not_decide() -> None:
    forbidden = {
        name
        for name in EXPECTED
        if json.loads((FIXTURES / f"{name}.json").read_text())["code"] == 403
    }
    classes = {type(classify(replay(n)[1])) for n in forbidden}
    assert classes >= {
        MissingDependency,
        PermissionDenied,
        EscalationDenied,
        QuotaExceeded,
        PolicyViolation,
        NamespaceTerminating,
    }


def test_details_parsed() -> None:
    sa = classify(replay("missing_service_account")[1])
    assert isinstance(sa, MissingDependency) and sa.dependency is not None
    assert (sa.dependency.kind, sa.dependency.name) == ("ServiceAccount", "vault-svc")
    assert sa.target.resource == "pods" and sa.target.verb == "POST"

    denied = classify(replay("permission_denied")[1])
    assert isinstance(denied, PermissionDenied)
    assert (denied.user, denied.verb, denied.resource, denied.group) == (
        "alice",
        "create",
        "configmaps",
        "",
    )
    assert denied.namespace and denied.namespace == denied.target.namespace

    cluster = classify(replay("permission_denied_cluster")[1])
    assert isinstance(cluster, PermissionDenied) and cluster.namespace == ""

    invalid = classify(replay("invalid")[1])
    assert [c.field for c in invalid.causes] == ["spec.ports[0].port"]

    ssa = classify(replay("ssa_conflict")[1])
    assert isinstance(ssa, Conflict) and ssa.managers == ("one",) and not ssa.retryable
    assert classify(replay("optimistic_lock")[1]).retryable
    assert classify(replay("webhook_unreachable")[1]).retryable


def test_bodies_the_server_cannot_read_name_the_field_and_are_not_retried() -> None:
    wrong = classify(replay("typed_patch_wrong_type")[1])
    assert isinstance(wrong, Invalid) and not wrong.retryable and wrong.code == 500
    assert wrong.fields == ("spec.template.spec.nodeSelector.k",)
    assert wrong.message.endswith("spec.template.spec.nodeSelector.k: expected string, got true")
    assert "--set-string" in wrong.fix
    conversion = classify(replay("conversion")[1])
    assert isinstance(conversion, Invalid) and not conversion.retryable
    assert conversion.fields == () and "cannot convert float64 to int32" in conversion.message
    created = classify(replay("undecodable_body")[1])
    assert isinstance(created, Invalid) and created.code == 400
    assert created.fields == ("spec.replicas",) and "--set instead of --set-string" in created.fix
    # A 500 that is not about the body stays a server failure, retried.
    recorded, _ = replay("typed_patch_wrong_type")
    status = {**recorded["status"], "message": "etcdserver: request timed out"}
    exc = ApiError(status, http_status=500, method="PATCH", url=recorded["request"]["url"])
    assert isinstance(classify(exc), Transient)


def test_api_error_reads_the_status_object() -> None:
    recorded, exc = replay("missing_service_account")
    status = recorded["status"]
    assert (exc.code, exc.reason, exc.message) == (403, "Forbidden", status["message"])
    assert exc.details == status.get("details", {}) and str(exc) == status["message"]
    assert exc.status == status and exc.method == "POST" and "/pods" in exc.url
    # A Status without code or details: `code` is the HTTP status.
    bare = ApiError({"kind": "Status", "message": "no"}, http_status=503)
    assert (bare.code, bare.reason, bare.details) == (503, "", {})
    busy = ApiError({"kind": "Status", "code": 503, "message": "busy"}, retry_after="2")
    assert classify(busy).retryable and classify(busy).retry_after == 2.0
