"""The HTTP layer under `Kube`: TLS, credentials on each request, a retry on 401.

helmguard authenticates itself (exec plugins of `client.authentication.k8s.io/v1beta1` and
`/v1`, tokens, client certificates): every request goes through one
httpx2 `Transport` that adds the credential (kube/credentials.py) and impersonation headers,
re-asks for the credential once on a 401, and counts requests.

Connections, per client certificate:

- Calls (every request that ends: GET, apply, dry run, review) share one HTTP/2 connection,
  multiplexed, as client-go does: a deploy's bursts of concurrent calls (the preflight's dry
  runs and reviews, an apply wave) ride one TLS connection instead of one each (a 100-object
  deploy opened 43-48 over HTTP/1.1, whose idle pool kept 20). kube-apiserver allows 250
  streams per connection, httpcore2 at most 100: calls past that wait for a stream. A server
  that offers only HTTP/1.1 gets HTTP/1.1.
- A call abandoned before its answer was read to the end (cancelled by a deadline, a 401's
  body skipped) retires its connection: new calls open another, and the old one closes when
  its last stream ends. httpcore2 neither resets such a stream nor acknowledges the data that
  still arrives for it, so each one would shrink the connection's flow-control window (16
  MiB) for good, until every call on a long-lived connection (`serve`) hung.
- A call whose connection the server closed (GOAWAY) before its answer arrived is sent again
  over HTTP/1.1. kube-apiserver sends GOAWAY ahead of every 401 (it closes connections of
  clients that fail authentication), and httpcore2 then drops the answer: over HTTP/1.1 the
  401 arrives, and the credential is asked for again.
- A call that finds its connection dead (a read or write error: the API server restarted
  while the connection sat in the pool; HTTP/1.1 pools notice that before reuse, httpcore2's
  HTTP/2 pool does not) retires it and is sent once more on a new connection, if sending it
  twice cannot do twice what it asks: reads, PUT/PATCH/DELETE (idempotent in Kubernetes),
  dry runs. Any other call raises the error, as it did over HTTP/1.1.
- The frames that calls write in one turn of the event loop leave in one TLS record
  (kube/coalesce.py): a burst of calls costs a few sends instead of several per call.
- Watches (`WATCH`, set by `Kube.stream`) each get their own HTTP/1.1 connection: a watch
  holds its stream for minutes, so on the shared connection watches would take the stream
  slots calls need, and a watch whose reader stalls would stop the server sending on every
  stream once the connection window filled. On its own TCP connection, a stalled watch
  stalls only itself.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpcore2
import httpx2

from helmguard.kube.coalesce import CoalescingBackend
from helmguard.kube.config import ClusterConfig
from helmguard.kube.credentials import Credential, Credentials
from helmguard.kube.errors import KubeConfigError

# The request extension `Kube.stream` sets on a watch: it gets a connection of its own.
WATCH = "helmguard.watch"

_PoolKey = tuple[bytes | None, bytes | None]


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


class _Shared:
    """One HTTP/2 pool of calls and how many of its streams are open."""

    def __init__(self, key: _PoolKey, pool: httpx2.AsyncHTTPTransport) -> None:
        self.key = key
        self.pool = pool
        self.open = 0
        self.retired = False


class _Tracked(httpx2.AsyncByteStream):
    """A call's response body: tells the transport when it closes, and whether it was read."""

    def __init__(self, body: httpx2.AsyncByteStream, owner: Transport, shared: _Shared) -> None:
        self._body = body
        self._owner = owner
        self._shared = shared
        self._read = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._body:
            yield part
        self._read = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._body.aclose()
        finally:
            await self._owner._ended(self._shared, abandoned=not self._read)


class Transport(httpx2.AsyncBaseTransport):
    """Adds credentials and impersonation to each request, counts requests (module docstring)."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._credentials = Credentials(config)
        self._calls: dict[_PoolKey, _Shared] = {}
        self._retired: set[_Shared] = set()
        self._own: dict[_PoolKey, httpx2.AsyncHTTPTransport] = {}
        self.requests = 0
        self.call_pools = 0  # HTTP/2 pools opened for calls (one unless some were retired)
        # Fail on bad TLS material now, not on the first request.
        self._shared(Credential(cert_pem=config.client_cert_pem, key_pem=config.client_key_pem))

    def _new_pool(self, key: _PoolKey, *, http2: bool) -> httpx2.AsyncHTTPTransport:
        context = _ssl_context(self._config, *key)
        # Each watch holds a connection for minutes: a cap (httpx's 100) would leave
        # informers past it waiting forever and starve every other request.
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=20)
        proxy = self._config.proxy_url or None
        transport = httpx2.AsyncHTTPTransport(
            verify=context, proxy=proxy, trust_env=False, http2=http2, limits=limits
        )
        if http2 and proxy is None:
            # The same pool, on streams that gather the HTTP/2 frames written in one turn
            # of the event loop into one TLS record (kube/coalesce.py). httpx2 takes no
            # network backend: its pool is replaced before any connection exists.
            transport._pool = httpcore2.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                http1=True,
                http2=True,
                network_backend=CoalescingBackend(),
            )
        return transport

    def _shared(self, cred: Credential) -> _Shared:
        key = (cred.cert_pem, cred.key_pem)
        if key not in self._calls:
            self._calls[key] = _Shared(key, self._new_pool(key, http2=True))
            self.call_pools += 1
        return self._calls[key]

    def _http1(self, cred: Credential) -> httpx2.AsyncHTTPTransport:
        """The HTTP/1.1 pool: a connection per request in flight (watches, resent calls)."""
        key = (cred.cert_pem, cred.key_pem)
        if key not in self._own:
            self._own[key] = self._new_pool(key, http2=False)
        return self._own[key]

    async def _ended(self, shared: _Shared, *, abandoned: bool) -> None:
        """A call's stream closed: retire its pool if the answer was left unread."""
        shared.open -= 1
        if abandoned and not shared.retired:
            shared.retired = True
            self._retired.add(shared)
            if self._calls.get(shared.key) is shared:
                del self._calls[shared.key]
        if shared.retired and shared.open == 0:
            self._retired.discard(shared)
            await shared.pool.aclose()

    async def credential(self) -> Credential:
        """Obtain the credential now (running an exec plugin if need be), without a request."""
        return await self._credentials.get()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        cred = await self._credentials.get()
        response = await self._send(request, cred)
        if response.status_code == 401 and self._credentials.refreshable:
            await response.aread()  # read to the end: the connection stays usable
            await response.aclose()
            cred = await self._credentials.get(stale=cred)
            response = await self._send(request, cred)
        return response

    async def _send(
        self, request: httpx2.Request, cred: Credential, *, again: bool = True
    ) -> httpx2.Response:
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
        if request.extensions.get(WATCH):
            return await self._http1(cred).handle_async_request(request)
        shared = self._shared(cred)
        shared.open += 1
        try:
            response = await shared.pool.handle_async_request(request)
        except httpx2.RemoteProtocolError as exc:
            await self._ended(shared, abandoned=True)
            if "ConnectionTerminated" in str(exc):
                return await self._http1(cred).handle_async_request(request)
            # The peer closed without answering (an API server that restarted): the call's
            # frames left in one send (kube/coalesce.py), so the closed socket shows at the
            # read, not as a WriteError. Sent once more as a dead connection's call is.
            if "Server disconnected" in str(exc) and again and _replayable(request):
                return await self._send(request, cred, again=False)
            raise
        except (httpx2.ReadError, httpx2.WriteError):
            await self._ended(shared, abandoned=True)
            if not (again and _replayable(request)):
                raise
            return await self._send(request, cred, again=False)
        except BaseException:
            await self._ended(shared, abandoned=True)
            raise
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _Tracked(response.stream, self, shared)
        return response

    async def aclose(self) -> None:
        pools = [s.pool for s in (*self._calls.values(), *self._retired)]
        pools += self._own.values()
        self._calls, self._retired, self._own = {}, set(), {}
        for pool in pools:
            await pool.aclose()


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def _replayable(request: httpx2.Request) -> bool:
    """Whether sending `request` twice does no more than sending it once."""
    if request.method in _IDEMPOTENT:
        return True
    return request.method == "POST" and request.url.params.get("dryRun") == "All"
