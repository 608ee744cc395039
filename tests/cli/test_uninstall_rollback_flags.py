"""Bad input to uninstall's and rollback's helm flags: exit 2 naming it, before connecting."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from helmguard.cli import main
from helmguard.deploy.uninstall import UninstallOptions


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["uninstall", "r", "--cascade", "sideways"], "invalid cascade value (sideways)"),
        (["uninstall", "r", "--wait=soon"], "--wait=soon: use one of watcher, legacy, hookOnly"),
        (["rollback", "r", "--force-replace"], "--force-replace (--force)"),
        (["rollback", "r", "--force"], "--force-replace (--force)"),
        (["rollback", "r", "--server-side=false"], "--server-side=false"),
        (["rollback", "r", "--", "-1"], "REVISION -1"),
        (["rollback", "r", "--dry-run=maybe"], 'invalid dry-run value ("maybe")'),
        (["rollback", "r", "--description", "x" * 257], "256 characters or less, got 257"),
        (["rollback", "r", "--wait=legacy", "--no-wait"], "--wait=legacy waits and --no-wait"),
        (["rollback", "r", "--wait=hookOnly", "--wait-for-jobs"], "--wait-for-jobs"),
    ],
)
def test_bad_input_exits_2_before_connecting(args: list[str], message: str, tmp_path: Path) -> None:
    # No cluster at all: a refusal that tried to connect would fail differently.
    absent = str(tmp_path / "no-kubeconfig")
    command, *rest = args
    result = CliRunner().invoke(main, [command, "--no-store", "--kubeconfig", absent, *rest])
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr


def test_uninstall_options_name_a_bad_cascade() -> None:
    assert UninstallOptions("orphan").cascade == "orphan"
    with pytest.raises(ValueError, match='Must be "background", "foreground", or "orphan"'):
        UninstallOptions("Orphan")


@pytest.mark.parametrize("alias", ["del", "delete", "un"])
def test_helms_aliases_of_uninstall(alias: str) -> None:
    result = CliRunner().invoke(main, [alias, "--help"])
    assert result.exit_code == 0, result.output
    assert "RELEASE [RELEASE...]" in result.stdout and "--cascade" in result.stdout
