"""A connection written back as a kubeconfig, for Helm's Go engine (its `lookup` client).

helm's install and upgrade render with a client of the cluster they deploy to; helmguard
resolves connections itself (kubeconfig, in-cluster, exec plugins, held cluster Secrets),
so the engine gets that resolved connection with the credential in force, never the
plugin: one identity for the deploy and for what its templates read.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from helmguard.kube.config import ClusterConfig
from helmguard.kube.credentials import Credential

_NAME = "helmguard"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_text(config: ClusterConfig, credential: Credential) -> str:
    """The kubeconfig (JSON, which client-go reads as YAML) of `config` authenticated by
    `credential`: server, TLS, proxy, the credential and impersonation."""
    cluster: dict[str, Any] = {"server": config.target.server}
    if config.ca_pem:
        cluster["certificate-authority-data"] = _b64(config.ca_pem)
    if config.insecure:
        cluster["insecure-skip-tls-verify"] = True
    if config.tls_server_name:
        cluster["tls-server-name"] = config.tls_server_name
    if config.proxy_url:
        cluster["proxy-url"] = config.proxy_url
    user: dict[str, Any] = {}
    if credential.token:
        user["token"] = credential.token
    elif config.username:
        user["username"], user["password"] = config.username, config.password
    if credential.cert_pem and credential.key_pem:
        user["client-certificate-data"] = _b64(credential.cert_pem)
        user["client-key-data"] = _b64(credential.key_pem)
    if config.impersonate_user:
        user["as"] = config.impersonate_user
        if config.impersonate_groups:
            user["as-groups"] = list(config.impersonate_groups)
        if config.impersonate_uid:
            user["as-uid"] = config.impersonate_uid
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _NAME, "cluster": cluster}],
        "users": [{"name": _NAME, "user": user}],
        "contexts": [
            {
                "name": _NAME,
                "context": {
                    "cluster": _NAME,
                    "user": _NAME,
                    "namespace": config.target.namespace or "default",
                },
            }
        ],
        "current-context": _NAME,
    }
    return json.dumps(document)
