"""End to end: `helmguard check` / `graph` on real charts rendered by the Helm engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from helmguard.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHARTS = Path(__file__).parent / "charts"
SEED = ["check", str(EXAMPLES / "vault-seed"), "--release", "common", "-n", "msga-cn", "--offline"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def findings(*args: str) -> list[dict[str, Any]]:
    code, out, _ = run(*args, "-o", "json")
    assert code in (0, 1)
    return list(json.loads(out)["findings"])


def test_seed_chart_reports_the_missing_service_account_as_error() -> None:
    code, out, _ = run(*SEED)
    assert code == 1
    assert "HG101" in out and "missing-service-account" in out
    assert 'serviceaccount "vault-svc" not found' in out.replace("\n", " ").replace("│", "")
    (f,) = findings(*SEED)
    assert f["code"] == "HG101" and f["severity"] == "error"
    assert f["object"] == {
        "group": "apps",
        "kind": "Deployment",
        "namespace": "msga-cn",
        "name": "common-vault",
    }
    assert f["target"]["kind"] == "ServiceAccount" and f["target"]["name"] == "vault-svc"
    assert f["path"] == "spec.template.spec.serviceAccountName"
    assert f["fix"] == (
        "set serviceAccount.create=true, or create ServiceAccount msga-cn/vault-svc first"
    )
    assert f["source"] == "vault/templates/deployment.yaml"


def test_seed_chart_in_an_existing_namespace_is_a_warning() -> None:
    args = [*SEED, "--set", "namespace.create=false"]
    code, _, _ = run(*args)
    assert code == 0
    (f,) = findings(*args)
    assert f["code"] == "HG101" and f["severity"] == "warning"
    assert "must already exist in the cluster" in f["message"]
    code, _, _ = run(*args, "--fail-on", "warning")
    assert code == 1


def test_seed_chart_fixed_by_its_values_is_clean() -> None:
    code, out, _ = run(*SEED, "--set", "serviceAccount.create=true")
    assert code == 0, out
    assert "no findings" in out


def test_webapp_example_is_clean() -> None:
    code, out, _ = run("check", str(EXAMPLES / "webapp"), "--release", "shop", "-n", "web")
    assert code == 0, out
    assert findings("check", str(EXAMPLES / "webapp"), "--fail-on", "warning") == []


@pytest.mark.parametrize(
    "chart",
    ["certgen-webhook", "secret-init", "optional-refs", "sa-default", "umbrella", "lookup-offline"],
)
def test_real_chart_patterns_give_no_warning(chart: str) -> None:
    args = ["check", str(CHARTS / chart), "--release", "r1", "-n", "apps", "--fail-on", "warning"]
    code, out, _ = run(*args)
    assert code == 0, out


def test_hook_created_secrets_are_reported_as_satisfied_by_hook() -> None:
    for chart, secret in (
        ("certgen-webhook", "r1-gatekeep-admission"),
        ("secret-init", "r1-ledger-db"),
    ):
        got = findings("check", str(CHARTS / chart), "--release", "r1", "-n", "apps")
        assert [(f["code"], f["severity"], f["target"]["name"]) for f in got] == [
            ("HG150", "info", secret)
        ]


def test_optional_refs_are_info_only() -> None:
    got = findings("check", str(CHARTS / "optional-refs"), "--release", "r1", "-n", "apps")
    assert len(got) == 4
    assert {f["severity"] for f in got} == {"info"}


def test_subcharts_switched_by_conditions_resolve_either_way() -> None:
    args = [
        "check",
        str(CHARTS / "umbrella"),
        "--release",
        "r1",
        "-n",
        "apps",
        "--fail-on",
        "warning",
    ]
    for switches in ([], ["--set", "cache.enabled=true"], ["--set", "db.enabled=false"]):
        code, out, _ = run(*args, *switches)
        assert code == 0, out
    # The subchart's objects really are rendered and resolved: the graph shows them.
    _, out, _ = run(
        "graph",
        str(CHARTS / "umbrella"),
        "--release",
        "r1",
        "-n",
        "apps",
        "--set",
        "cache.enabled=true",
    )
    assert "ConfigMap apps/r1-cache  [created by the chart]" in out
    assert "Secret apps/r1-db key=password  [created by the chart]" in out


def test_service_account_create_false_without_default_fallback_is_caught() -> None:
    args = ["check", str(CHARTS / "sa-default"), "--release", "r1", "-n", "apps"]
    got = findings(*args, "--set", "serviceAccount.name=runner")
    assert [(f["code"], f["target"]["name"]) for f in got] == [("HG101", "runner")]
    assert got[0]["fix"].startswith("set serviceAccount.create=true")


def test_sarif_output_has_what_github_code_scanning_needs() -> None:
    code, out, _ = run(*SEED, "-o", "sarif")
    assert code == 1
    doc = json.loads(out)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "helmguard"
    (rule,) = driver["rules"]
    assert rule["id"] == "HG101" and rule["name"] == "MissingServiceAccount"
    assert rule["help"]["text"] and rule["shortDescription"]["text"]
    (result,) = run_["results"]
    assert result["ruleId"] == "HG101" and result["ruleIndex"] == 0
    assert result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("examples/vault-seed/templates/deployment.yaml")
    assert loc["region"]["startLine"] >= 1
    assert result["partialFingerprints"]


def test_graph_text_and_dot() -> None:
    chart = str(EXAMPLES / "vault-seed")
    code, out, _ = run("graph", chart, "--release", "common", "-n", "msga-cn")
    assert code == 0
    assert "spec.template.spec.serviceAccountName -> ServiceAccount msga-cn/vault-svc" in out
    code, out, _ = run("graph", chart, "--release", "common", "-n", "msga-cn", "-o", "dot")
    assert code == 0
    assert out.startswith("digraph references {") and out.rstrip().endswith("}")
    assert '"ServiceAccount msga-cn/vault-svc"' in out and "color=red" in out


@pytest.mark.parametrize(
    "args",
    [
        ["check", "/nonexistent/chart"],
        ["check", str(ROOT / "pyproject.toml")],
        ["graph", "/nonexistent/chart"],
        ["check", str(EXAMPLES / "webapp"), "-o", "yaml"],
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert "Traceback" not in out + err
    assert "Error" in err


def _chart(tmp: Path, templates: dict[str, str]) -> str:
    (tmp / "templates").mkdir()
    (tmp / "Chart.yaml").write_text("apiVersion: v2\nname: t\nversion: 0.1.0\n")
    for name, text in templates.items():
        (tmp / "templates" / name).write_text(text)
    return str(tmp)


def test_template_error_exits_2_with_helms_message(tmp_path: Path) -> None:
    chart = _chart(tmp_path, {"cm.yaml": "x: {{ .Values.missing.deeper }}\n"})
    code, out, err = run("check", chart)
    assert code == 2 and out == ""
    assert "templates/cm.yaml" in err and "Traceback" not in err


def test_duplicate_objects_are_a_finding_not_a_crash(tmp_path: Path) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
    chart = _chart(tmp_path, {"a.yaml": cm, "b.yaml": cm})
    code, out, _ = run("check", chart, "-n", "apps", "-o", "json")
    assert code == 1
    (f,) = json.loads(out)["findings"]
    assert (f["code"], f["name"], f["severity"]) == ("HG100", "duplicate-object", "error")
    assert "t/templates/a.yaml" in f["message"] and "t/templates/b.yaml" in f["message"]
