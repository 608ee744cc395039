"""`helmguard plan / deploy / rollback / uninstall` end to end through the click commands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox

CHARTS = Path(__file__).parent / "charts"
SEED = Path(__file__).parents[2] / "examples" / "vault-seed"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_plan_prints_waves_as_text_and_json() -> None:
    chart = str(CHARTS / "fullstack")
    code, out, _ = run("plan", chart, "--release", "demo", "-n", "demo-ns")
    assert code == 0
    assert out.splitlines()[0] == "wave 0: 3 object(s)"
    assert "  after: Namespace demo-ns" in out
    code, out, _ = run("plan", chart, "--release", "demo", "-n", "demo-ns", "-o", "json")
    data = json.loads(out)
    assert [len(w["objects"]) for w in data["waves"]] == [3, 7, 4]
    assert data["operation"] == "install" and data["cycles"] == []


def test_plan_of_a_broken_chart_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    code, _, err = run("plan", str(tmp_path / "nowhere"))
    assert code == 2 and err.startswith("Error: ")


def test_deploy_json_event_stream_and_exit_codes(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, tmp_path: Path
) -> None:
    common = ["--kubeconfig", str(sandbox.kubeconfig), "--db", str(tmp_path / "db.sqlite")]
    code, out, _ = run(
        "deploy", str(CHARTS / "hooked"), "--release", "h", "-n", namespace, *common, "-o", "json"
    )
    lines = _json_lines(out)
    assert code == 0, lines[-1]
    events = [line["event"] for line in lines[:-1]]
    assert {"lock.acquired", "plan", "wave.applied", "wait.ready", "verdict"} <= {
        e["step"] for e in events
    }
    result = lines[-1]["result"]
    assert result["outcome"] == "deployed" and result["revision"] == 1
    assert [a["name"] for a in result["applied"]] == ["h-settings"]

    code, out, err = run("uninstall", "h", "-n", namespace, *common, "--log-format", "json")
    assert code == 0, err
    steps = [json.loads(line)["step"] for line in err.splitlines() if line.startswith("{")]
    assert steps[-1] == "verdict" and "object.deleted" in steps
    cm = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/h-settings")
    assert cm.status_code == 404

    code, _, err = run("rollback", "h", "-n", namespace, *common)
    assert code == 1 and "has no stored revisions" in err


def test_seed_deploy_is_refused_with_exit_code_1(
    sandbox: Sandbox, admin_http: httpx.Client, tmp_path: Path
) -> None:
    ns = f"cli-seed-{tmp_path.name[-8:]}".lower().replace("_", "-")
    code, _, err = run(
        "deploy",
        str(SEED),
        "--release",
        "common",
        "-n",
        ns,
        "--kubeconfig",
        str(sandbox.kubeconfig),
        "--no-store",
    )
    assert code == 1
    assert "preflight found" in err and f"{ns}/vault-svc" in err
    assert admin_http.get(f"/api/v1/namespaces/{ns}").status_code == 404


def test_test_command_exit_codes_and_the_failing_tests_reason(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    common = ["-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)]
    chart = str(CHARTS / "operator")
    code, _, err = run("test", "op", *common)
    assert code == 1 and f"release {namespace}/op not found" in err
    code, _, err = run("deploy", chart, "--release", "op", *common, "--no-store")
    assert code == 0, err
    code, out, err = run("test", "op", *common, "-o", "json")
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])["result"]
    assert result["outcome"] == "passed" and result["operation"] == "test"
    code, _, err = run(
        "deploy", chart, "--release", "op", "--set", "failTest=true", *common, "--no-store"
    )
    assert code == 0, err
    code, _, err = run("test", "op", *common)
    assert code == 1
    assert f"test hook Job.batch {namespace}/op-test-connection failed" in err


def _selector_chart(root: Path) -> Path:
    chart = root / "selector"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: selector\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("nodeSelector: {}\n")
    (chart / "templates" / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n"
        "      nodeSelector: {{- toYaml .Values.nodeSelector | nindent 8 }}\n"
        "      containers: [{name: web, image: registry.example/web:1}]\n"
    )
    return chart


def test_a_value_of_the_wrong_type_fails_the_deploy_at_once(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    # `--set k=true` makes a bool where the API wants a string: server-side apply answers
    # 500, which must not be retried until the deadline.
    chart = str(_selector_chart(tmp_path))
    common = ["--kubeconfig", str(sandbox.kubeconfig), "--db", str(tmp_path / "db.sqlite")]
    args = ["deploy", chart, "--release", "sel", "-n", namespace, "--timeout", "5m", *common]
    field = "spec.template.spec.nodeSelector.disk: expected string, got true"

    code, out, err = run(*args, "--set", "nodeSelector.disk=true")
    assert code == 1, err
    assert "HG224" in out + err and field in out + err and "--set-string" in out + err

    started = time.monotonic()
    code, out, err = run(*args, "--set", "nodeSelector.disk=true", "--force")
    assert code == 1, err
    assert field in out + err and "--set-string" in out + err
    assert time.monotonic() - started < 60  # not retried until the 5m deadline

    code, out, err = run(
        "check",
        chart,
        "--release",
        "sel",
        "-n",
        namespace,
        *common[:2],
        "--set-string",
        "nodeSelector.disk=true",
    )
    assert "HG224" not in out + err
