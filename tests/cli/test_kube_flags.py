"""Helm's connection flags applied over a resolved connection (pure: real ClusterConfigs)."""

from __future__ import annotations

from pathlib import Path

from helmguard.cli.kube_flags import overridden
from helmguard.kube.config import ClusterConfig, KubeTarget

BASE = ClusterConfig(
    KubeTarget("https://a:6443", "ctx", "c", "u", "default", "kubeconfig", "client-certificate"),
    ca_pem=b"kubeconfig CA",
    token_file=Path("/var/token"),
    client_cert_pem=b"cert",
    client_key_pem=b"key",
)


def test_no_flag_changes_nothing() -> None:
    assert overridden(BASE, {}) == BASE


def test_each_flag_overrides_what_client_go_overrides(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"flag CA")
    got = overridden(
        BASE,
        {
            "kube_apiserver": "https://b:443",
            "kube_token": "t0ken",
            "kube_as_user": "alice",
            "kube_as_group": ("devs", "ops"),
            "kube_ca_file": str(ca),
            "kube_tls_server_name": "api.internal",
        },
    )
    assert got.target.server == "https://b:443"
    # The token replaces the token file; the client certificate stays, as client-go's.
    assert (got.token, got.token_file, got.client_cert_pem) == ("t0ken", None, b"cert")
    assert (got.impersonate_user, got.impersonate_groups) == ("alice", ("devs", "ops"))
    assert (got.ca_pem, got.tls_server_name) == (b"flag CA", "api.internal")


def test_skipping_verification_drops_the_kubeconfigs_ca() -> None:
    got = overridden(BASE, {"kube_insecure": True})
    assert got.insecure and got.ca_pem is None
