"""Helm's --labels as pflag parses them and helm v4 merges them (pure functions)."""

from __future__ import annotations

import pytest

from helmguard.deploy.labels import merged_labels, parse_labels


def test_pairs_are_read_as_pflag_reads_a_string_to_string_flag() -> None:
    assert parse_labels(["team=a,tier=web"]) == {"team": "a", "tier": "web"}
    # One "=": a single pair, commas included (pflag reads no CSV then), quotes trimmed.
    assert parse_labels(['"team=a"']) == {"team": "a"}
    assert parse_labels(["team=a", "team=b,env=prod"]) == {"team": "b", "env": "prod"}
    assert parse_labels(['team=a,"env=prod"']) == {"team": "a", "env": "prod"}
    assert parse_labels([]) == {}


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("team", "must be formatted as key=value"),
        ("team=a,env=b,tier", "tier must be formatted as key=value"),
        ("owner=me", "owner: user supplied labels contain a system reserved label name"),
        ("team=a,b", "the value must be 63 characters at most"),
        ("bad key=a", "the key's name 'bad key'"),
        ("Example.com/team=a", "the key's prefix 'Example.com'"),
        ("team=" + "x" * 64, "the value must be 63 characters at most"),
    ],
)
def test_what_helm_or_the_api_server_refuses_is_refused_naming_it(flag: str, says: str) -> None:
    with pytest.raises(ValueError, match="--labels") as caught:
        parse_labels([flag])
    assert says in str(caught.value)


def test_an_upgrade_merges_over_the_previous_labels_and_null_removes_one() -> None:
    previous = {"team": "a", "tier": "web"}
    assert merged_labels(previous, {"tier": "null", "env": "prod"}) == {"team": "a", "env": "prod"}
    assert merged_labels(previous, {}) == previous
