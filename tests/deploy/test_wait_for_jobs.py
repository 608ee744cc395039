"""--wait-for-jobs: helm install --wait --wait-for-jobs and helmguard deploy both return with the
plain Job complete (helmguard waits for Jobs with or without the flag); with --no-wait it is
bad input."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox

CHART = Path(__file__).parent / "charts" / "jobbed"


def _complete(admin_http: httpx.Client, namespace: str, name: str) -> bool:
    job = admin_http.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}").json()
    conditions = (job.get("status") or {}).get("conditions") or ()
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def _deploy(sandbox: Sandbox, namespace: str, release: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "deploy", str(CHART), "--release", release, "-n", namespace, "--no-store",
            "--timeout", "90s", "--kubeconfig", str(sandbox.kubeconfig), *args,
        ],
    )  # fmt: skip
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_deploy_returns_with_plain_jobs_complete_as_helm_wait_for_jobs(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    helm.run("install", "byhelm", str(CHART), "-n", namespace, "--wait", "--wait-for-jobs")
    assert _complete(admin_http, namespace, "byhelm-seed")

    code, out = _deploy(sandbox, namespace, "flagged", "--wait-for-jobs")
    assert code == 0, out
    assert _complete(admin_http, namespace, "flagged-seed")
    code, out = _deploy(sandbox, namespace, "plain")
    assert code == 0, out
    assert _complete(admin_http, namespace, "plain-seed")  # waited for without the flag too


def test_wait_for_jobs_with_no_wait_is_bad_input(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client
) -> None:
    code, out = _deploy(sandbox, namespace, "shop", "--wait-for-jobs", "--no-wait")
    assert code == 2 and "--wait-for-jobs waits for Jobs and --no-wait for nothing" in out, out
    result = CliRunner().invoke(
        main,
        ["rollback", "shop", "-n", namespace, "--wait-for-jobs", "--no-wait", "--no-store"],
    )
    assert result.exit_code == 2 and "pass one" in result.output, result.output
    assert (
        admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/shop-settings").status_code
        == 404
    )
    secrets = admin_http.get(f"/api/v1/namespaces/{namespace}/secrets").json()["items"]
    assert not [s for s in secrets if s["metadata"]["name"].startswith("sh.helm.release")]
