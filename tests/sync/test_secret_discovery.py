"""The name a labelled cluster Secret gives its cluster (pure; the watch is in
tests/sync/test_cluster_discovery.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from helmguard.sync.secret_discovery import _naming_only, discovered_name


def _secret(name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in (data or {}).items()}
    return {"metadata": {"name": name, "namespace": "hg"}, "data": encoded}


def test_the_name_key_names_the_cluster_else_the_secret_name() -> None:
    assert discovered_name(_secret("cluster-edge", {"name": "edge", "token": "t"})) == ("edge", "")
    assert discovered_name(_secret("cluster-edge", {"token": "t"})) == ("cluster-edge", "")
    assert discovered_name(_secret("edge", {"name": " edge\n"})) == ("edge", "")


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        (_secret("x", {"name": "Not_A_Label"}), "Secret hg/x key 'name' cannot name a cluster"),
        (_secret("a.b"), "Secret hg/a.b name cannot name a cluster"),
        (
            {"metadata": {"name": "x", "namespace": "hg"}, "data": {"name": "%%"}},
            "Secret hg/x key 'name' is not base64",
        ),
    ],
)
def test_a_name_that_is_no_label_is_refused_naming_the_secret(
    secret: dict[str, Any], said: str
) -> None:
    name, problem = discovered_name(secret)
    assert name == "" and said in problem, problem


def test_discovery_keeps_no_credentials() -> None:
    secret = _secret("x", {"name": "edge", "token": "very-secret"})
    kept = _naming_only(secret)
    assert kept["data"] == {"name": secret["data"]["name"]}
    assert discovered_name(kept) == ("edge", "")
