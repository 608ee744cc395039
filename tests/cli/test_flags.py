"""Bad input to the Helm-style flags: exit 2, a message naming the problem, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from helmguard.cli import main

CHART = Path(__file__).parents[1] / "deploy" / "charts" / "interop"


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env or {})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--timeout", "5 minutes"], {}, "invalid duration '5 minutes'"),
        (["--timeout", "1h5"], {}, "missing unit"),
        (["--timeout", "-5m"], {}, "must not be negative"),
        (["--dry-run=everywhere"], {}, "--dry-run='everywhere': use --dry-run=client or"),
        (["--reuse-values", "--reset-values"], {}, "exclude each other"),
        (["--history-max", "-1"], {}, "--history-max"),
        ([], {"HELM_DRIVER": "sql"}, "HELM_DRIVER='sql' is not a release storage"),
    ],
)
def test_bad_deploy_flags_exit_2_and_write_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    db = tmp_path / "db.sqlite"
    code, err = _run(
        "deploy",
        str(CHART),
        "--release",
        "x",
        "-n",
        "ns",
        "--db",
        str(db),
        "--kubeconfig",
        str(tmp_path / "no-kubeconfig"),
        *args,
        env=env,
    )
    assert code == 2, err
    assert message in err
    assert not db.exists()


def test_bad_timeouts_elsewhere(tmp_path: Path) -> None:
    code, err = _run("rollback", "x", "--timeout", "soon", "--no-store")
    assert code == 2 and "invalid duration 'soon'" in err
    code, err = _run("check", str(CHART), "--offline", "--timeout", "0s")
    assert code == 2 and "shorter than the minimum" in err


def test_dry_run_client_prints_the_manifest_and_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "deploy",
            str(CHART),
            "--release",
            "dr",
            "-n",
            "ns",
            "--dry-run=client",
            "--db",
            str(tmp_path / "db.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "# Source: interop/templates/config.yaml" in result.stdout
    assert "name: dr-config" in result.stdout
    assert not (tmp_path / "db.sqlite").exists()


def test_list_filter_must_be_a_regex(tmp_path: Path) -> None:
    code, err = _run("list", "--filter", "(", "--kubeconfig", str(tmp_path / "none"))
    assert code == 2 and "--filter '(' is not a regular expression" in err


@pytest.mark.parametrize(
    "args",
    [
        ["upgrade", "--install", "--wait", "dr", str(CHART)],
        ["upgrade", "--install", "dr", str(CHART), "--wait", "--timeout", "5m"],
        ["deploy", "--wait", "--atomic", "dr", str(CHART)],
        ["install", "--dry-run", "dr", str(CHART)],
    ],
    ids=" ".join,
)
def test_a_bare_wait_or_dry_run_takes_no_value_as_helms(tmp_path: Path, args: list[str]) -> None:
    """pflag's optional values (helm's --wait and --dry-run): the next word stays an argument,
    so the most common CI line, `helm upgrade --install --wait NAME CHART`, reads as helm's."""
    dry = [] if "--dry-run" in args else ["--dry-run=client"]
    result = CliRunner().invoke(main, [*args, *dry, "-n", "ns", "--db", str(tmp_path / "db")])
    assert result.exit_code == 0, result.output
    assert "as release dr in namespace ns" in result.output, result.output


def test_a_wait_strategy_is_given_after_equals_as_helms(tmp_path: Path) -> None:
    code, err = _run("uninstall", "--wait=soon", "x", "--no-store")
    assert code == 2 and "--wait=soon: use one of watcher, legacy, hookOnly" in err, err


def test_test_filters_read_as_helms() -> None:
    from helmguard.cli.deploy import _test_filters

    assert _test_filters(["name=a,name=b", "!name=c", "! name=d"]) == ({"a", "b"}, {"c", "d"})
    code, err = _run("test", "web", "--filter", "kind=Job", "--no-store")
    assert code == 2 and "--filter 'kind=Job': helm test's filters are name=NAME" in err, err
