"""Fixtures for the chart tests: the test charts and, when one can be found, a helm binary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helmguard.chart.helm_binary import find_helm
from helmguard.chart.source import ChartError
from helmguard.sandbox.build import bin_dir

CHARTS = Path(__file__).parent / "charts"


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """A helm v4 binary (HELMGUARD_HELM, PATH, or `helmguard sandbox build`), else skip."""
    try:
        return find_helm(bin_dir())
    except ChartError as exc:
        if os.environ.get("CI"):  # CI builds helm (scripts/bootstrap): never skip there
            pytest.fail(f"no helm binary for the parity tests: {exc}")
        pytest.skip(f"no helm binary for the parity tests: {exc}")
