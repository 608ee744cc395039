"""Fixtures for the sync tests: a helmguard `Kube` as the sandbox admin, a fresh SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from helmguard.kube.client import Kube
from helmguard.kube.config import load_config


@pytest.fixture
async def kube(sandbox: Any) -> AsyncIterator[Kube]:
    async with Kube(load_config(sandbox.kubeconfig, sandbox.admin_context)) as k:
        yield k
