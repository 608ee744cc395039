"""Connecting to a cluster: the `Kube` connection object and `connect`.

Public API:

- `await connect(kubeconfig=None, context=None, ...) -> Kube`: resolve the cluster with
  `load_config` (kube/config.py), check the credentials with `GET /version`, and return a
  `Kube`. Every failure is a `KubeError` with a fix (`KubeConfigError`, `Unauthorized`,
  `Transient`). `connect_config` does the same from a resolved `ClusterConfig`.
- `Kube`: `.target` (a `KubeTarget`: which cluster, context, user), `.discovery` (served API
  resources, cached), `.requests` (API requests sent, for `-v` output), `get_json(path)`,
  `send_json`, `stream`, `aclose()`; also an async context manager. An error answered with
  a Status object raises `ApiError` (kube/errors.py); `classify` (kube/classifier.py) names it.

Requests go through helmguard's own transport (kube/transport.py), which adds the credentials.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx2

from helmguard.kube.classifier import retry
from helmguard.kube.config import ClusterConfig, KubeconfigPath, load_config
from helmguard.kube.discovery import Discovery
from helmguard.kube.engineconfig import kubeconfig_text
from helmguard.kube.errors import ApiError
from helmguard.kube.transport import WATCH, Transport


def _raise_for_error(response: httpx2.Response) -> None:
    """For an error answer: `ApiError` when the body is a Status object (JSON), else
    httpx2's HTTPStatusError (a plain-text 404, a proxy's page); the classifier reads both."""
    if not response.is_error:
        return
    body: Any = None
    if response.headers.get("Content-Type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = response.json()
    if isinstance(body, dict):
        raise ApiError(
            body,
            http_status=response.status_code,
            method=response.request.method,
            url=str(response.request.url),
            retry_after=response.headers.get("Retry-After", ""),
        )
    response.raise_for_status()


class Kube:
    """A connection to one cluster: JSON requests and watches over one transport, discovery."""

    def __init__(self, config: ClusterConfig, *, timeout: float = 10.0) -> None:
        self.config = config
        self.target = config.target
        self._transport = Transport(config)
        self._http = httpx2.AsyncClient(
            base_url=config.target.server,
            transport=self._transport,
            timeout=timeout,
            trust_env=False,
        )
        self.discovery = Discovery(self.get_json)

    @property
    def requests(self) -> int:
        """How many HTTP requests this connection has sent (retries after a 401 included)."""
        return self._transport.requests

    @property
    def namespace(self) -> str:
        """The context's namespace ("default" if the context sets none)."""
        return self.target.namespace

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        accept: str = "",
    ) -> Any:
        """GET an API path (e.g. `/apis/apps/v1`) and decode it; raises ApiError.

        `accept` asks for another representation (e.g. PartialObjectMetadataList).
        """
        return await self.send_json("GET", path, params=params, accept=accept)

    async def send_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "",
    ) -> Any:
        """Send `body` as JSON to an API path and decode the answer; raises ApiError.

        An error answered in another form than JSON (a plain-text 404 for an API that is not
        served) raises httpx2's HTTPStatusError.
        """
        headers = {"Content-Type": content_type} if body is not None else {}
        if accept:
            headers["Accept"] = accept
        response = await self._http.request(
            method,
            path,
            params=dict(params or {}),
            content=None if body is None else json.dumps(body).encode(),
            headers=headers or None,
        )
        _raise_for_error(response)
        return response.json()

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, params: Mapping[str, str] | None = None, *, connect_timeout: float = 10.0
    ) -> AsyncIterator[httpx2.Response]:
        """GET an API path as a stream (a watch): no read timeout; raises ApiError on an error.

        The caller reads the event lines from `response.aiter_bytes()` and decides itself how long
        silence may last (a watch is quiet for as long as nothing changes).
        """
        timeout = httpx2.Timeout(connect_timeout, read=None, write=connect_timeout, pool=None)
        async with self._http.stream(
            "GET", path, params=dict(params or {}), timeout=timeout, extensions={WATCH: True}
        ) as response:
            if response.is_error:
                await response.aread()
                _raise_for_error(response)
            yield response

    async def authenticate(self) -> None:
        """Obtain the credential (an exec plugin runs here, within its own timeout)."""
        await self._transport.credential()

    async def kubeconfig(self) -> str:
        """This connection as a kubeconfig (JSON) with the current credential, for Helm's
        engine (`lookup`); it holds secrets: never log or store it."""
        return kubeconfig_text(self.config, await self._transport.credential())

    async def version(self) -> dict[str, Any]:
        """The server's /version (gitVersion, ...): proves reachability and credentials."""
        body = await self.get_json("/version")
        return dict(body)

    async def aclose(self) -> None:
        """Close connections; the Kube cannot be used afterwards."""
        await self._http.aclose()
        await self._transport.aclose()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def connect(
    kubeconfig: KubeconfigPath | Sequence[KubeconfigPath] | None = None,
    context: str | None = None,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - also each request's timeout, not just this call's
    verify: bool = True,
    reach_timeout: float | None = None,
) -> Kube:
    """Connect to the cluster `load_config` resolves; with `verify`, prove it answers.

    Verification is one `GET /version`, retried on transient errors for up to
    `reach_timeout` seconds (default `timeout`); it raises `Unauthorized` for rejected
    credentials, `Transient` for an unreachable server, `KubeConfigError` for configuration
    and exec plugin problems.
    """
    return await connect_config(
        load_config(kubeconfig, context),
        timeout=timeout,
        verify=verify,
        reach_timeout=reach_timeout,
    )


async def connect_config(
    config: ClusterConfig,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - also each request's timeout, not just this call's
    verify: bool = True,
    reach_timeout: float | None = None,
) -> Kube:
    """Like `connect`, from an already resolved (or adjusted) `ClusterConfig`."""
    kube = Kube(config, timeout=timeout)
    if verify:
        try:
            # First the credential: a failing plugin is named, not the API server.
            await kube.authenticate()
            await retry(kube.version, timeout=timeout if reach_timeout is None else reach_timeout)
        except BaseException:
            await kube.aclose()
            raise
    return kube
