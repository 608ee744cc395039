"""Writes to the shared HTTP/2 connection gathered into one TLS record and one send per turn.

httpcore2 writes each HTTP/2 frame as it makes it: a request's HEADERS, DATA and
END_STREAM, every WINDOW_UPDATE acknowledging an answer's data, each its own TLS record
and `send` system call. A deploy's bursts of concurrent calls (100 dry runs, an apply
wave) made ~2,000 writes for ~250 requests, and a send on loopback runs the receiving
side's TCP work and may hand the CPU to the API server there and then. `CoalescingBackend`
gives the HTTP/2 pool streams whose `write` appends to a buffer that one flushing task
sends as soon as the event loop turns: what every task wrote in the meantime goes in one
record. Order is kept (one buffer, one flusher); a write that fails is raised by the
stream's next read or write, as httpcore2's `WriteError`, so the transport's handling of a
dead connection (kube/transport.py) is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2


class _CoalescingStream(httpcore2.AsyncNetworkStream):
    """A network stream whose writes are gathered and sent by one task (module docstring)."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending = bytearray()
        self._flusher: asyncio.Task[None] | None = None
        self._failed: str | None = None

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise httpcore2.WriteError(self._failed)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore2's interface
        self._raise_if_failed()
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore2's interface
        self._raise_if_failed()
        self._pending += buffer
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                data = bytes(self._pending)
                self._pending.clear()
                await self._inner.write(data)
        except Exception as exc:  # the connection is dead: its next read or write says so
            self._failed = str(exc) or type(exc).__name__
            self._pending.clear()
        finally:
            self._flusher = None

    async def aclose(self) -> None:
        flusher = self._flusher
        try:
            if flusher is not None:
                # What is still buffered (a GOAWAY) goes out unless the socket will not take it.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(flusher), timeout=1.0)
        finally:
            if flusher is not None:
                flusher.cancel()
            await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
    ) -> httpcore2.AsyncNetworkStream:
        # The TLS handshake runs on the plain stream; what is gathered is the TLS stream's.
        return _CoalescingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class CoalescingBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio backend, with streams that gather their writes."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _CoalescingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _CoalescingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
