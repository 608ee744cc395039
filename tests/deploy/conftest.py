"""Fixtures the differential tests share: the helm binary on the sandbox, twin namespaces."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from helmcli import Helm, helm_binary
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace


@pytest.fixture
def helm(sandbox: Sandbox, tmp_path: Path) -> Helm:
    """The helm binary built with the sandbox, on it, with a home of its own."""
    return Helm(helm_binary(), sandbox, tmp_path / "helm")


@pytest.fixture
def pair(admin_http: httpx2.Client) -> Iterator[tuple[str, str]]:
    """Two fresh namespaces: the first for helm, the second for helmguard."""
    names = (f"h-{uuid.uuid4().hex[:10]}", f"g-{uuid.uuid4().hex[:10]}")
    for name in names:
        create_namespace(admin_http, name)
    yield names
    for name in names:
        delete_namespace(admin_http, name)


@pytest.fixture
def twin_namespace(namespace: str, admin_http: httpx2.Client) -> Iterator[str]:
    """A second fresh namespace beside `namespace`, for helm's twin release; deleted after."""
    theirs = f"{namespace}-h"
    create_namespace(admin_http, theirs)
    try:
        yield theirs
    finally:
        delete_namespace(admin_http, theirs)
