"""The classifier on Status answers captured from the sandbox API server (tests/kube/fixtures).

Each fixture is a real response recorded by the sandbox tests (HELMGUARD_RECORD_FIXTURES=1);
here it is replayed into a lightkube ApiError, as lightkube itself builds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube.core.exceptions import ApiError

from helmguard.kube.errors import (
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
    classify,
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
    "ssa_conflict": Conflict,
    "optimistic_lock": Conflict,
    "unauthorized": Unauthorized,
    "webhook_unreachable": Transient,
    "webhook_denied": PolicyViolation,
}


def replay(name: str) -> tuple[dict[str, Any], ApiError]:
    """A captured response turned back into the ApiError lightkube raised for it."""
    recorded = json.loads((FIXTURES / f"{name}.json").read_text())
    request = httpx2.Request(recorded["request"]["method"], recorded["request"]["url"])
    response = httpx2.Response(
        recorded["code"], json=recorded["status"], headers=recorded["headers"], request=request
    )
    return recorded, ApiError(request=request, response=response)


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
