"""The HTTP layer under lightkube and `Kube`: TLS, credentials on each request, a retry on 401.

lightkube's own ExecAuth refuses `client.authentication.k8s.io/v1` (its `_prepare` whitelists
v1alpha1 and v1beta1), so helmguard authenticates itself: every request goes through one
httpx2 `Transport` that adds the credential (kube/credentials.py) and impersonation headers,
re-asks for the credential once on a 401, keeps one connection pool per client certificate,
and counts requests.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path

import httpx2

from helmguard.kube.config import ClusterConfig
from helmguard.kube.credentials import Credential, Credentials
from helmguard.kube.errors import KubeConfigError


def _ssl_context(config: ClusterConfig, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    """Trust the cluster's CA (or skip verification if configured) and present `cert`."""
    try:
        if config.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif config.ca_pem:
            ctx = ssl.create_default_context(cadata=config.ca_pem.decode(errors="replace"))
        else:
            ctx = ssl.create_default_context()
    except ssl.SSLError as exc:
        raise KubeConfigError(
            f"The certificate authority of cluster {config.target.cluster!r} is not valid PEM: "
            f"{exc}.",
            fix="Fix certificate-authority(-data) in the kubeconfig cluster.",
        ) from None
    if cert and key:
        # ssl can load a certificate chain only from files; they live just long enough.
        with tempfile.TemporaryDirectory(prefix="helmguard-") as tmp:
            cert_file, key_file = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            try:
                ctx.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise KubeConfigError(
                    f"The client certificate of user {config.target.user!r} cannot be used: {exc}.",
                    fix="Check that client-certificate and client-key are PEM and match.",
                ) from None
    return ctx


class Transport(httpx2.AsyncBaseTransport):
    """Adds credentials and impersonation to each request, counts requests."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._credentials = Credentials(config)
        self._pools: dict[tuple[bytes | None, bytes | None], httpx2.AsyncHTTPTransport] = {}
        self.requests = 0
        # Fail on bad TLS material now, not on the first request.
        self._pool(Credential(cert_pem=config.client_cert_pem, key_pem=config.client_key_pem))

    def _pool(self, cred: Credential) -> httpx2.AsyncHTTPTransport:
        key = (cred.cert_pem, cred.key_pem)
        if key not in self._pools:
            self._pools[key] = httpx2.AsyncHTTPTransport(
                verify=_ssl_context(self._config, cred.cert_pem, cred.key_pem),
                proxy=self._config.proxy_url or None,
                trust_env=False,
                # Each watch holds a connection for minutes: a cap (httpx's 100) would leave
                # informers past it waiting forever and starve every other request.
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=20),
            )
        return self._pools[key]

    async def credential(self) -> None:
        """Obtain the credential now (running an exec plugin if need be), without a request."""
        await self._credentials.get()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        cred = await self._credentials.get()
        response = await self._send(request, cred)
        if response.status_code == 401 and self._credentials.refreshable:
            await response.aclose()
            cred = await self._credentials.get(stale=cred)
            response = await self._send(request, cred)
        return response

    async def _send(self, request: httpx2.Request, cred: Credential) -> httpx2.Response:
        config = self._config
        headers = [
            (k, v)
            for k, v in request.headers.multi_items()
            if k.lower() != "authorization" and not k.lower().startswith("impersonate-")
        ]
        if cred.token:
            headers.append(("Authorization", f"Bearer {cred.token}"))
        elif config.username:
            basic = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
            headers.append(("Authorization", f"Basic {basic}"))
        if config.impersonate_user:
            headers.append(("Impersonate-User", config.impersonate_user))
            headers.extend(("Impersonate-Group", g) for g in config.impersonate_groups)
            if config.impersonate_uid:
                headers.append(("Impersonate-Uid", config.impersonate_uid))
        request.headers = httpx2.Headers(headers)
        if config.tls_server_name:
            request.extensions = {**request.extensions, "sni_hostname": config.tls_server_name}
        self.requests += 1
        return await self._pool(cred).handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
