"""In-cluster configuration: the pod's own ServiceAccount, as client-go's rest.InClusterConfig.

A pod has `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` in its environment and its
ServiceAccount mounted at `SERVICE_ACCOUNT_DIR`: `token` (a projected token the kubelet
rotates: re-read when it changes), `ca.crt` (the cluster CA) and `namespace`.
`HELMGUARD_SERVICE_ACCOUNT_DIR` names another mount point. `load_config` (kube/config.py)
falls back to `config()` when no kubeconfig is found.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from helmguard.kube.config import ClusterConfig, KubeTarget
from helmguard.kube.errors import KubeConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_ACCOUNT_DIR_ENV = "HELMGUARD_SERVICE_ACCOUNT_DIR"


def service_account_dir(env: Mapping[str, str]) -> Path:
    """Where the ServiceAccount is mounted: $HELMGUARD_SERVICE_ACCOUNT_DIR, else the default."""
    return Path(env.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR)


def config(env: Mapping[str, str], sa_dir: Path | None = None) -> ClusterConfig | None:
    """The in-cluster ClusterConfig, or None when this is not a pod (no host, no token)."""
    sa_dir = sa_dir if sa_dir is not None else service_account_dir(env)
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    if not host or not (sa_dir / "token").is_file():
        return None
    port = env.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # an IPv6 address needs brackets in a URL
        host = f"[{host}]"
    try:
        ca = (sa_dir / "ca.crt").read_bytes()
    except OSError as exc:
        raise KubeConfigError(
            f"In-cluster: cannot read the cluster CA {sa_dir / 'ca.crt'}: {exc.strerror}.",
            fix="Mount the ServiceAccount token (automountServiceAccountToken: true).",
        ) from None
    ns_file = sa_dir / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    return ClusterConfig(
        target=KubeTarget(
            server=f"https://{host}:{port}",
            context="",
            cluster="in-cluster",
            user=f"serviceaccount in {namespace}",
            namespace=namespace,
            source="in-cluster ServiceAccount",
            auth="token-file",
        ),
        ca_pem=ca,
        token_file=sa_dir / "token",
    )
