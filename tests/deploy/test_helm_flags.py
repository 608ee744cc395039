"""Helm's flags held to the helm binary: --skip-crds, and what a failed rollback records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace

CHARTS = Path(__file__).parent / "charts"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sprockets.skipcrds.example.com"


def _cli(sandbox: Sandbox, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_skip_crds_installs_no_crd_with_helm_nor_helmguard(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    chart = str(CHARTS / "crdful")
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    theirs = f"{namespace}-h"
    create_namespace(admin_http, theirs)
    try:
        helm.run("install", "gear", chart, "-n", theirs, "--skip-crds")
        code, out = _cli(
            sandbox, "deploy", chart, "--release", "gear", "-n", namespace, "--skip-crds",
            "--no-store", "--timeout", "60s",
        )  # fmt: skip
        assert code == 0, out
        assert admin_http.get(CRD).status_code == 404
        for ns in (namespace, theirs):
            path = f"/api/v1/namespaces/{ns}/configmaps/gear-config"
            assert admin_http.get(path).status_code == 200
        # Without the flag the same chart does install it: the check above can fail.
        code, out = _cli(
            sandbox, "deploy", chart, "--release", "gear2", "-n", namespace,
            "--no-store", "--timeout", "60s",
        )  # fmt: skip
        assert code == 0, out
        assert admin_http.get(CRD).status_code == 200
    finally:
        admin_http.delete(CRD)
        delete_namespace(admin_http, theirs)


def _statuses(helm: Helm, name: str, namespace: str) -> list[tuple[int, str]]:
    history: list[dict[str, Any]] = helm.json("history", name, "-n", namespace)
    return [(h["revision"], h["status"]) for h in history]


def _leave_a_conflicting_frozen_map(admin_http: httpx.Client, namespace: str) -> None:
    """The ConfigMap revision 1 had, back with other data (another field manager's), immutable,
    carrying the release's ownership: the API server refuses re-applying revision 1."""
    body = {
        "metadata": {
            "name": "rb-frozen",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "rb",
                "meta.helm.sh/release-namespace": namespace,
            },
        },
        "immutable": True,
        "data": {"generation": "2"},
    }
    created = admin_http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body)
    assert created.status_code == 201, created.text


def test_a_failed_rollback_records_what_helm_records(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    chart = str(CHARTS / "frozen")
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    theirs = f"{namespace}-h"
    create_namespace(admin_http, theirs)
    try:
        for ns in (theirs, namespace):
            helm.run("install", "rb", chart, "-n", ns)
            helm.run("upgrade", "rb", chart, "-n", ns, "--set", "frozen=false")
            _leave_a_conflicting_frozen_map(admin_http, ns)
        failed = helm.run("rollback", "rb", "1", "-n", theirs, check=False)
        assert failed.returncode != 0 and "rb-frozen" in failed.stderr, failed.stderr
        code, out = _cli(
            sandbox, "rollback", "rb", "1", "-n", namespace, "--no-store", "--timeout", "60s"
        )
        assert code == 1 and "rb-frozen" in out, out
        expected = [(1, "superseded"), (2, "superseded"), (3, "failed")]
        assert _statuses(helm, "rb", theirs) == expected
        assert _statuses(helm, "rb", namespace) == expected
    finally:
        delete_namespace(admin_http, theirs)


def test_a_rollback_failing_its_wait_keeps_the_latest_deployed_as_helm_does(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    chart = str(Path(__file__).parents[1] / "sync" / "charts" / "helmsa")
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    theirs = f"{namespace}-h"
    create_namespace(admin_http, theirs)
    try:
        for ns in (theirs, namespace):
            # Revision 1 runs as a ServiceAccount that does not exist; revision 2 as default.
            helm.run("install", "rw", chart, "-n", ns)
            helm.run("upgrade", "rw", chart, "-n", ns, "--set", "account=default")
        failed = helm.run(
            "rollback", "rw", "1", "-n", theirs, "--wait", "--timeout", "10s", check=False
        )
        assert failed.returncode != 0, failed.stderr
        code, out = _cli(
            sandbox, "rollback", "rw", "1", "-n", namespace, "--no-store", "--timeout", "60s"
        )
        assert code == 1 and "helmsa-runner" in out, out
        expected = [(1, "superseded"), (2, "deployed"), (3, "failed")]
        assert _statuses(helm, "rw", theirs) == expected
        assert _statuses(helm, "rw", namespace) == expected
    finally:
        delete_namespace(admin_http, theirs)
