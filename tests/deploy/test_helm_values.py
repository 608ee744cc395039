"""Values as helm computes them: `get values --all` and upgrades with --reuse-values, compared
with the helm binary on the same releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
