"""retry(): backoff on retryable errors only, Retry-After honoured, a deadline kept.

The failures come from a real closed loopback port (a genuine connection error); the
Retry-After case uses a Transient carrying the delay, as classify builds it from a 429.
"""

from __future__ import annotations

import time

import httpx2
import pytest

from helmguard.kube.classifier import retry
from helmguard.kube.errors import PermissionDenied, Transient

from .conftest import closed_port


async def _refused() -> None:
    async with httpx2.AsyncClient() as client:
        await client.get(f"http://127.0.0.1:{closed_port()}/")


async def test_gives_up_at_the_deadline() -> None:
    calls = 0

    async def always_down() -> None:
        nonlocal calls
        calls += 1
        await _refused()

    started = time.monotonic()
    with pytest.raises(Transient) as info:
        await retry(always_down, timeout=1.0, base=0.05)
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 2.0
    assert calls > 2
    # The attempt our own deadline cut short is not counted: its error says less.
    assert info.value.__notes__ in (
        [f"gave up after {calls} attempts over 1s"],
        [f"gave up after {calls - 1} attempts over 1s"],
    )
    assert "Cannot connect to the API server" in info.value.message
    assert isinstance(info.value.__cause__, httpx2.ConnectError)


async def test_not_retryable_raises_at_once() -> None:
    calls = 0

    async def forbidden() -> None:
        nonlocal calls
        calls += 1
        raise PermissionDenied("alice may not create configmaps", verb="create")

    with pytest.raises(PermissionDenied):
        await retry(forbidden, timeout=5)
    assert calls == 1


async def test_honours_retry_after() -> None:
    calls = 0

    async def throttled_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Transient("throttled", code=429, retry_after=0.6)
        return "ok"

    started = time.monotonic()
    assert await retry(throttled_once, timeout=5, base=0.01) == "ok"
    assert time.monotonic() - started >= 0.6


async def test_retry_after_beyond_deadline_gives_up_now() -> None:
    async def throttled() -> None:
        raise Transient("throttled", code=429, retry_after=30)

    started = time.monotonic()
    with pytest.raises(Transient):
        await retry(throttled, timeout=2)
    assert time.monotonic() - started < 0.5
