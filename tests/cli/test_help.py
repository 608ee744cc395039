"""`helmguard --help` lists every command from cli.COMMANDS without importing one."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from helmguard.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_summary_is_the_commands_own(name: str) -> None:
    target, summary = COMMANDS[name]
    module, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    assert summary == command.get_short_help_str(limit=10_000)


def test_help_imports_no_command() -> None:
    probe = (
        "import sys\n"
        "from helmguard.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules\n"
        "                if m.startswith('helmguard.') or m == 'sqlalchemy')\n"
        "print(' '.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded = out.strip().splitlines()[-1].split()
    assert loaded == ["helmguard.cli"], loaded
    for name in COMMANDS:
        assert f"  {name} " in out


# What a command's --help must not load: the store (SQLAlchemy), the HTTP stack, Helm's
# engine, the deploy executor and the sync. Each is imported where it is first used.
_HEAVY = ("sqlalchemy", "httpx2", "helm_python", "helmguard.deploy.engine", "helmguard.sync.engine")


@pytest.mark.parametrize("name", ["deploy", "rollback", "uninstall", "status", "check"])
def test_command_help_imports_nothing_heavy(name: str) -> None:
    probe = (
        "import sys\n"
        "from helmguard.cli import main\n"
        "try:\n"
        f"    main([{name!r}, '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:', *sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage:" in out
    assert out.splitlines()[-1].split() == ["loaded:"], out.splitlines()[-1]


def test_unknown_command_is_an_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output
