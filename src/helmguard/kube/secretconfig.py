"""A cluster's connection read from a Secret (in the cluster helmguard runs in), the way
Argo CD's declarative cluster Secrets hold them, in kubectl's own vocabulary.

The Secret holds either a kubeconfig (key `kubeconfig`; `context` picks one of its
contexts, default its current-context), or a server, a bearer token and the server's CA
(keys `server`, `token`, and `ca.crt`, a ServiceAccount token Secret's names; without
`ca.crt` the system's trust roots verify the server). Nothing in it may run a program or
read a file: an exec credential plugin, a tokenFile or a file path is refused, since
whoever can write the Secret would otherwise choose what serve runs or reads.

`secret_ref(text)` parses NAMESPACE/NAME; `config_from_secret(secret, ref, context)` is
the pure decision; every problem is a `KubeConfigError` naming the Secret and the key.
`held_name(cluster, ref)` is the name a cluster's connection read from Secret `ref` is held
under in memory (kube.config.hold_connection), where a kubeconfig path would go.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from helmguard import goyaml
from helmguard.kube.config import ClusterConfig, KubeTarget, kubeconfig_from_bytes
from helmguard.kube.errors import KubeConfigError

KUBECONFIG_KEY = "kubeconfig"
SERVER_KEY, TOKEN_KEY, CA_KEY = "server", "token", "ca.crt"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def secret_ref(text: str) -> tuple[str, str]:
    """(namespace, name) of `NAMESPACE/NAME`; ValueError naming what is wrong."""
    namespace, slash, name = text.partition("/")
    if not slash or not _DNS_LABEL.fullmatch(namespace) or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ValueError(
            f"--secret {text!r} is not NAMESPACE/NAME of a Secret (a namespace is a DNS-1123 "
            "label, a Secret name a DNS-1123 subdomain), e.g. helmguard/cluster-b"
        )
    return namespace, name


def held_name(cluster: str, ref: str) -> str:
    """The name cluster `cluster`'s connection from Secret `ref` is held under."""
    return f"secret://{ref}#{cluster}"


def config_from_secret(
    secret: Mapping[str, Any], ref: str, context: str | None = None
) -> ClusterConfig:
    """The connection Secret `ref` (NAMESPACE/NAME, for messages) describes."""
    data = _decoded(secret, ref)
    if KUBECONFIG_KEY in data:
        source = f"Secret {ref} key {KUBECONFIG_KEY}"
        config = kubeconfig_from_bytes(data[KUBECONFIG_KEY], source, context)
        return _no_programs_or_files(config, data[KUBECONFIG_KEY], source)
    if context:
        raise KubeConfigError(
            f"Secret {ref} has no {KUBECONFIG_KEY!r} key, so there is no context "
            f"{context!r} to pick.",
            fix=f"Drop --context, or put a kubeconfig under the key {KUBECONFIG_KEY!r}.",
        )
    missing = [k for k in (SERVER_KEY, TOKEN_KEY) if not data.get(k, b"").strip()]
    if missing:
        keys = ", ".join(sorted(data)) or "none"
        raise KubeConfigError(
            f"Secret {ref} has neither a {KUBECONFIG_KEY!r} key nor a {SERVER_KEY!r} and a "
            f"{TOKEN_KEY!r} (missing: {', '.join(missing)}; its keys: {keys}).",
            fix=f"Put a kubeconfig under {KUBECONFIG_KEY!r}, or the API server's URL under "
            f"{SERVER_KEY!r}, a bearer token under {TOKEN_KEY!r} and the CA under {CA_KEY!r}.",
        )
    server = _text(data[SERVER_KEY], ref, SERVER_KEY)
    if not server.startswith("https://"):
        raise KubeConfigError(
            f"Secret {ref} key {SERVER_KEY!r} is {server!r}, not an https:// URL.",
            fix="Set it to the API server's URL, e.g. https://10.0.0.1:6443.",
        )
    ca = data.get(CA_KEY) or None
    if ca is not None and b"-----BEGIN CERTIFICATE-----" not in ca:
        raise KubeConfigError(
            f"Secret {ref} key {CA_KEY!r} is not a PEM certificate.",
            fix="Put the API server's CA certificate (PEM, as a ServiceAccount token Secret "
            "holds it) under ca.crt, or leave the key out to use the system's trust roots.",
        )
    return ClusterConfig(
        target=KubeTarget(
            server=server,
            context=f"Secret {ref}",
            cluster=server,
            user=f"the token in Secret {ref}",
            namespace="default",
            source=f"Secret {ref}",
            auth="token",
        ),
        ca_pem=ca,
        token=_text(data[TOKEN_KEY], ref, TOKEN_KEY),
    )


def _decoded(secret: Mapping[str, Any], ref: str) -> dict[str, bytes]:
    """The Secret's data, decoded (stringData never comes back from the API server)."""
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value or ""), validate=True)
        except binascii.Error:
            raise KubeConfigError(
                f"Secret {ref} key {key!r} is not base64 data.",
                fix="Write the Secret with kubectl (or stringData), which encodes it.",
            ) from None
    return out


def _text(value: bytes, ref: str, key: str) -> str:
    try:
        return value.decode().strip()
    except UnicodeDecodeError:
        raise KubeConfigError(
            f"Secret {ref} key {key!r} is not UTF-8 text.", fix=f"Fix the {key!r} value."
        ) from None


_FILE_KEYS = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile", "exec")),
}


def _no_programs_or_files(config: ClusterConfig, raw: bytes, source: str) -> ClusterConfig:
    """`config` (read from `raw`), unless an entry of it runs a program or reads a file."""
    document = goyaml.load(raw)  # it parsed already: kubeconfig_from_bytes read it
    for section, (body, keys) in _FILE_KEYS.items():
        for item in document.get(section) or ():
            entry = (item or {}).get(body) or {}
            for key in keys:
                if entry.get(key):
                    name = (item or {}).get("name", "")
                    raise KubeConfigError(
                        f"The kubeconfig in {source}: {section} {name!r} sets {key}: a "
                        "kubeconfig read from a Secret may not run programs or read files "
                        "(whoever can write the Secret would choose them).",
                        fix="Embed the material: token, certificate-authority-data, "
                        "client-certificate-data, client-key-data.",
                    )
    return config
