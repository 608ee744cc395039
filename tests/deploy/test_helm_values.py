"""Values as helm computes them: `get values --all` and upgrades with --reuse-values, compared
with the helm binary on the same releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.chart.values import coalesce_values
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox

CHARTS = Path(__file__).parent / "charts"
USER_SETS = (
    "--set", "dropped=null", "--set", "settings.size=large", "--set", "settings.deep.a=null",
    "--set", "extra.k=v", "--set", "list={3}",
)  # fmt: skip


def test_coalesce_values_drops_nulls_and_lets_the_user_remove_defaults() -> None:
    defaults = {"a": 1, "n": None, "t": {"x": 1, "y": None, "z": {"q": None, "r": 2}}}
    user = {"a": None, "t": {"x": 5, "z": {"r": None}}, "u": None}
    assert coalesce_values(defaults, user) == {"t": {"x": 5, "z": {}}, "u": None}
    assert user == {"a": None, "t": {"x": 5, "z": {"r": None}}, "u": None}  # not modified


def _helmguard(sandbox: Sandbox, *args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_get_values_all_is_helms(sandbox: Sandbox, namespace: str, tmp_path: Path) -> None:
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    helm.run("install", "vals", str(CHARTS / "valued"), "-n", namespace, *USER_SETS)
    for extra in ((), ("--all",), ("-a",)):
        ours = _helmguard(sandbox, "get", "values", "vals", "-n", namespace, *extra, "-o", "json")
        assert ours == helm.json("get", "values", "vals", "-n", namespace, *extra), extra
    text = CliRunner().invoke(
        main,
        [
            "get",
            "values",
            "vals",
            "-n",
            namespace,
            "--all",
            "--kubeconfig",
            str(sandbox.kubeconfig),
        ],
    )
    assert text.stdout.startswith("COMPUTED VALUES:\n")


def _rendered(admin_http: httpx.Client, namespace: str, release: str) -> Any:
    path = f"/api/v1/namespaces/{namespace}/configmaps/{release}-values"
    return json.loads(admin_http.get(path).json()["data"]["values.json"])


@pytest.mark.parametrize("flag", ["--reuse-values", "--reset-then-reuse-values", ""])
def test_upgrade_to_a_chart_that_adds_keys_renders_helms_values(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, flag: str
) -> None:
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    for name in ("by-helm", "by-hg"):
        helm.run("install", name, str(CHARTS / "valued"), "-n", namespace, *USER_SETS)
    new = ("--set", "settings.size=huge", *((flag,) if flag else ()))
    helm.run("upgrade", "by-helm", str(CHARTS / "grown"), "-n", namespace, *new)
    result = CliRunner().invoke(
        main,
        [
            "deploy", str(CHARTS / "grown"), "--release", "by-hg", "-n", namespace, *new,
            "--no-store", "--timeout", "60s", "--kubeconfig", str(sandbox.kubeconfig),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    theirs = _rendered(admin_http, namespace, "by-helm")
    assert _rendered(admin_http, namespace, "by-hg") == theirs
    # helm drops the new chart's added defaults with --reuse-values, keeps them otherwise.
    assert ("added" in theirs) == (flag != "--reuse-values"), theirs
    for extra in ((), ("--all",)):
        ours = helm.json("get", "values", "by-hg", "-n", namespace, *extra)
        assert ours == helm.json("get", "values", "by-helm", "-n", namespace, *extra), extra
