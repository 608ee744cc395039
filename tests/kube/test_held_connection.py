"""Connections held in memory under a name that stands where a kubeconfig path would."""

from __future__ import annotations

import pytest

from helmguard.kube.config import (
    ClusterConfig,
    held_connection,
    hold_connection,
    load_config,
    release_connection,
)
from helmguard.kube.errors import KubeConfigError
from helmguard.kube.secretconfig import config_from_secret, held_name

SECRET = {"data": {"server": "aHR0cHM6Ly8xMC4wLjAuMTo2NDQz", "token": "dG9rZW4tMQ=="}}


def test_a_held_connection_is_what_its_provider_says_now() -> None:
    name = held_name("b", "hg/cluster-b")
    assert name == "secret://hg/cluster-b#b"
    current: list[ClusterConfig] = [config_from_secret(SECRET, "hg/cluster-b")]
    hold_connection(name, lambda: current[0])
    try:
        assert load_config(name).token == "token-1"
        assert held_connection(name) is current[0]
        current[0] = current[0].with_token("token-2")  # a rotated token, used at once
        assert load_config(name).token == "token-2"
        with pytest.raises(KubeConfigError, match="no contexts to pick 'x' from"):
            load_config(name, "x")
    finally:
        release_connection(name)
    assert held_connection(name) is None
    with pytest.raises(KubeConfigError):  # released: a path again, and no such file
        load_config(name)


def test_a_provider_without_a_connection_says_why() -> None:
    name = held_name("gone", "hg/gone")

    def gone() -> ClusterConfig:
        raise KubeConfigError("cluster gone (Secret hg/gone): Secret hg/gone does not exist")

    hold_connection(name, gone)
    try:
        with pytest.raises(KubeConfigError, match="Secret hg/gone does not exist"):
            held_connection(name)
        with pytest.raises(KubeConfigError, match="Secret hg/gone does not exist"):
            load_config(name)
    finally:
        release_connection(name)


def test_a_plain_path_is_not_a_held_connection() -> None:
    assert held_connection("/no/such/kubeconfig") is None
