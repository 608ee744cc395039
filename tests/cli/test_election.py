"""The --leader-elect flags: client-go's defaults, env vars, timings refused with exit 2."""

from __future__ import annotations

import click
from click.testing import CliRunner

from helmguard.cli.election import ElectionOptions, election_options
from helmguard.sync.leader import (
    LEASE_DURATION,
    LEASE_NAME,
    RENEW_DEADLINE,
    RETRY_PERIOD,
    ElectionTimings,
)

seen: list[ElectionOptions] = []


@click.command()
@election_options
def command(election: ElectionOptions) -> None:
    seen.append(election)


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    seen.clear()
    result = CliRunner().invoke(command, list(args), env=env)
    return result.exit_code, result.output


def test_defaults_are_client_gos_and_the_help_says_them() -> None:
    assert _run() == (0, "")
    assert seen == [ElectionOptions(False, LEASE_NAME, "", ElectionTimings())]
    _, text = _run("--help")
    for value in (LEASE_NAME, f"{LEASE_DURATION:g}", f"{RENEW_DEADLINE:g}", f"{RETRY_PERIOD:g}"):
        assert f"(default: {value}" in " ".join(text.split()), value


def test_flags_and_environment() -> None:
    code, _ = _run(
        "--leader-elect",
        "--leader-elect-lease-namespace",
        "ops",
        "--leader-elect-lease-duration",
        "4",
        env={
            "HELMGUARD_LEADER_ELECT_RENEW_DEADLINE": "3",
            "HELMGUARD_LEADER_ELECT_RETRY_PERIOD": "1",
        },
    )
    assert code == 0
    assert seen == [ElectionOptions(True, LEASE_NAME, "ops", ElectionTimings(4, 3, 1))]


def test_timings_client_go_refuses_exit_2_naming_the_rule() -> None:
    code, text = _run("--leader-elect-lease-duration", "5", "--leader-elect-renew-deadline", "6")
    assert code == 2
    assert "error: leader election: the lease duration (5s) must be greater than" in text
    code, text = _run("--leader-elect-retry-period", "0")
    assert code == 2 and "--leader-elect-retry-period" in text  # click's range check
