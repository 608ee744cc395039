"""A connection written back as a kubeconfig for Helm's engine, read back by helmguard's own
kubeconfig reader: the same server, TLS and credential."""

from __future__ import annotations

from dataclasses import replace

from helmguard.kube.config import ClusterConfig, KubeTarget, kubeconfig_from_bytes
from helmguard.kube.credentials import Credential
from helmguard.kube.engineconfig import kubeconfig_text

TARGET = KubeTarget("https://10.0.0.1:6443", "ctx", "c", "u", "apps", "file", "token")


def test_token_tls_and_impersonation_round_trip() -> None:
    config = ClusterConfig(
        TARGET,
        ca_pem=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        tls_server_name="api.internal",
        impersonate_user="alice",
        impersonate_groups=("devs",),
    )
    back = kubeconfig_from_bytes(
        kubeconfig_text(config, Credential(token="from-plugin")).encode(), "engine"
    )
    assert back.target.server == TARGET.server
    assert back.target.namespace == "apps"
    assert (back.ca_pem, back.tls_server_name) == (config.ca_pem, "api.internal")
    assert back.token == "from-plugin"  # the credential in force, not the plugin
    assert back.exec_plugin is None
    assert (back.impersonate_user, back.impersonate_groups) == ("alice", ("devs",))


def test_client_certificate_and_insecure() -> None:
    config = replace(ClusterConfig(TARGET), insecure=True)
    credential = Credential(cert_pem=b"CERT", key_pem=b"KEY")
    back = kubeconfig_from_bytes(kubeconfig_text(config, credential).encode(), "engine")
    assert back.insecure
    assert (back.client_cert_pem, back.client_key_pem, back.token) == (b"CERT", b"KEY", "")
