"""Small helpers for tests that talk to the sandbox API server over plain HTTP."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx2

T = TypeVar("T")


@contextlib.contextmanager
def sandbox_home(path: Path) -> Iterator[None]:
    """Point the sandbox functions at their own sandboxes directory, then restore."""
    previous = os.environ.get("HELMGUARD_SANDBOX_HOME")
    os.environ["HELMGUARD_SANDBOX_HOME"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HELMGUARD_SANDBOX_HOME", None)
        else:
            os.environ["HELMGUARD_SANDBOX_HOME"] = previous


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `probe` every 0.1 s until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def create_namespace(api: httpx2.Client, name: str) -> None:
    """Create a namespace and wait for its `default` ServiceAccount (pods need it)."""
    created = api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert created.status_code == 201, created.text
    wait_until(
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code == 200,
        f"the default ServiceAccount in {name}",
    )


def delete_namespace(api: httpx2.Client, name: str, *, wait: bool = False) -> None:
    api.delete(f"/api/v1/namespaces/{name}")
    if wait:
        wait_until(
            lambda: api.get(f"/api/v1/namespaces/{name}").status_code == 404,
            f"namespace {name} to be deleted",
            timeout=60,
        )
