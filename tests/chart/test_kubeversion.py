"""Chart.yaml kubeVersion constraints, checked like Helm (Masterminds semver v3)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helmguard.chart.kubeversion import ConstraintError, compatible, satisfies
from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.source import ChartError

from .conftest import CHARTS

CASES = [
    (">=1.19.0-0", "v1.30.2", True),
    (">=1.19.0", "v1.30.2-eks-1", True),  # Helm cuts the version to v1.30.2 first
    (">=1.19.0-0", "v1.30.2-eks-1", True),
    (">=1.30.2-0", "v1.30.2-gke.1245000", True),
    (">1.30.2", "v1.30.2+k3s1", False),
    (">= 1.28.0-0, < 1.40.0-0", "v1.27.9", False),
    (">= 1.28.0-0, < 1.40.0-0", "v1.39.0", True),
    (">=1.20 <1.25", "v1.25.0", False),
    ("~1.30.0", "v1.30.9", True),
    ("~1.30.0", "v1.31.0", False),
    ("~1.30", "v1.30.5", True),
    ("^1.2.3", "v1.99.0", True),
    ("^1.2.3", "v2.0.0", False),
    ("^0.2.3", "v0.3.0", False),
    ("1.30.x", "v1.30.7", True),
    ("1.30.x", "v1.31.0", False),
    (">1.x", "v1.99.0", False),
    (">1.x", "v2.0.0", True),
    ("<=1.30.x", "v1.30.9", True),
    ("1.28 - 1.30", "v1.30.0", True),
    ("1.28 - 1.30", "v1.30.1", True),
    ("1.28 - 1.30", "v1.31.0", False),
    ("<1.20 || >=1.30", "v1.25.0", False),
    ("<1.20 || >=1.30", "v1.31.0", True),
    ("!=1.30.1", "v1.30.1", False),
    ("=1.30.1", "v1.30.1", True),
    ("*", "v1.30.1", True),
]


@pytest.mark.parametrize(("constraint", "version", "expected"), CASES)
def test_constraints(constraint: str, version: str, expected: bool) -> None:
    assert compatible(constraint, version) is expected


def test_prerelease_versions_need_a_prerelease_in_the_same_alternative() -> None:
    # Masterminds semver v3 semantics, for versions that keep their pre-release.
    assert not satisfies("v1.30.2-rc.1", ">=1.19.0")
    assert satisfies("v1.30.2-rc.1", ">=1.19.0-0")
    assert satisfies("v1.30.2-rc.1", ">=1.19.0-0 <2.0.0")
    assert not satisfies("v1.30.2-rc.1", "<1.0.0-0 || >=1.19.0")


def test_bad_constraint() -> None:
    with pytest.raises(ConstraintError):
        satisfies("v1.30.0", ">=one.two")


def test_render_refuses_an_incompatible_kube_version() -> None:
    chart = str(CHARTS / "kubeversion")
    with pytest.raises(
        ChartError, match=r"requires kubeVersion: >= 1\.28\.0-0, < 1\.40\.0-0 .* v1\.27\.0"
    ):
        render_chart(RenderRequest(chart=chart, kube_version="1.27.0"))
    assert render_chart(RenderRequest(chart=chart, kube_version="1.30.0")).objects


def test_constraints_match_the_helm_binary(helm_binary: Path, tmp_path: Path) -> None:
    """Every case above, decided by `helm template` itself."""
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(tmp_path / "cfg"),
        "HELM_CACHE_HOME": str(tmp_path),
    }
    for number, (constraint, version, expected) in enumerate(CASES):
        chart = tmp_path / f"c{number}"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: c{number}\nversion: 0.1.0\nkubeVersion: {constraint!r}\n"
        )
        done = subprocess.run(
            [str(helm_binary), "template", "r", str(chart), "--kube-version", version],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        helm_says = done.returncode == 0
        assert helm_says is compatible(constraint, version), (constraint, version, done.stderr)
        assert helm_says is expected, (constraint, version)
