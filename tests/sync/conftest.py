"""Fixtures for the sync tests: a helmguard `Kube` as the sandbox admin, a second sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from helmguard.kube.client import Kube
from helmguard.kube.config import load_config
from secondbox import Second, second_sandbox


@pytest.fixture
async def kube(sandbox: Any) -> AsyncIterator[Kube]:
    async with Kube(load_config(sandbox.kubeconfig, sandbox.admin_context)) as k:
        yield k


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Second]:
    """Another sandbox than the session's (see tests/secondbox.py)."""
    yield from second_sandbox(tmp_path_factory.mktemp("second-sandbox"))
