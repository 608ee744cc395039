"""Where `--renderer helm` finds helm: HELMGUARD_HELM, PATH, then the sandbox's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from helmguard.chart.helm_binary import find_helm
from helmguard.chart.source import ChartError


def _helm_in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    helm = folder / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    return helm


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HELMGUARD_HELM, no HELMGUARD_SANDBOX_BIN, a PATH with nothing but an empty folder."""
    monkeypatch.delenv("HELMGUARD_HELM", raising=False)
    monkeypatch.delenv("HELMGUARD_SANDBOX_BIN", raising=False)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    return tmp_path


def test_the_environment_variable_wins(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _helm_in(bare / "chosen")
    monkeypatch.setenv("PATH", str(_helm_in(bare / "on-path").parent))
    monkeypatch.setenv("HELMGUARD_HELM", str(chosen))
    assert find_helm(_helm_in(bare / "sandbox").parent) == chosen


def test_a_bad_environment_variable_is_an_error_not_a_fallback(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_helm_in(bare / "on-path").parent))
    monkeypatch.setenv("HELMGUARD_HELM", str(bare / "missing"))
    with pytest.raises(ChartError, match=r"HELMGUARD_HELM=.*missing is not an executable file"):
        find_helm()


def test_path_comes_before_the_sandbox(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _helm_in(bare / "on-path")
    monkeypatch.setenv("PATH", f"{bare / 'empty'}:{on_path.parent}")
    monkeypatch.setenv("HELMGUARD_SANDBOX_BIN", str(_helm_in(bare / "sandbox").parent))
    assert find_helm() == on_path


def test_the_sandbox_folder_from_the_environment_then_the_caller(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = _helm_in(bare / "caller")
    assert find_helm(caller.parent) == caller
    from_env = _helm_in(bare / "env")
    monkeypatch.setenv("HELMGUARD_SANDBOX_BIN", str(from_env.parent))
    assert find_helm(caller.parent) == from_env


def test_none_found_names_every_place_looked(bare: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELMGUARD_SANDBOX_BIN", str(bare / "env"))
    (bare / "caller").mkdir()
    (bare / "caller" / "helm").write_text("not executable")
    with pytest.raises(ChartError) as caught:
        find_helm(bare / "caller")
    message = str(caught.value)
    assert "HELMGUARD_HELM is not set, no `helm` on PATH" in message
    assert f"none in {bare / 'env'}, {bare / 'caller'}" in message
    assert "--renderer sdk" in message
