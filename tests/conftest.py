"""Shared fixtures: one real sandbox control plane per test session, a namespace per test.

Set HELMGUARD_TEST_SANDBOX=NAME to run against an already running sandbox (started with
`helmguard sandbox up --name NAME`) instead of starting and stopping one: it is left up.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from helmguard.sandbox.build import bin_dir
from helmguard.sandbox.cluster import Sandbox, load_sandbox, sandbox_down, sandbox_up
from helmguard.sandbox.errors import SandboxError
from helmguard.store import Store, open_store
from kubeapi import create_namespace, delete_namespace, sandbox_home
from pgserver import postgres_server
from processes import stop

# The product finds helm by HELMGUARD_HELM or on PATH, never by importing the sandbox: the
# tests (and the helmguard processes they start) run the sandbox's version-matched build.
if not os.environ.get("HELMGUARD_HELM") and (bin_dir() / "helm").is_file():
    os.environ["HELMGUARD_HELM"] = str(bin_dir() / "helm")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    reuse = os.environ.get("HELMGUARD_TEST_SANDBOX")
    if reuse:
        yield load_sandbox(reuse)
        return
    home = tmp_path_factory.mktemp("sandboxes")
    with sandbox_home(home):
        try:
            sb = sandbox_up("pytest", timeout=300)
        except SandboxError as exc:
            # One retry on a fresh directory: a start-up race (a port taken between picking
            # and binding it) must not fail the whole session; a real fault fails twice.
            warnings.warn(f"sandbox start failed, retrying once: {exc}", stacklevel=1)
            sb = sandbox_up("pytest", timeout=300)
        try:
            yield sb
        finally:
            sandbox_down("pytest")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session; missing binaries fail the run (CI installs them)."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield url


@pytest.fixture(scope="session")
def admin_http(sandbox: Sandbox) -> Iterator[httpx2.Client]:
    """Raw HTTP to the sandbox API server as the admin (system:masters)."""
    with sandbox.admin_http() as client:
        yield client


@pytest.fixture
def namespace(admin_http: httpx2.Client) -> Iterator[str]:
    """A fresh namespace whose `default` ServiceAccount exists; deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    create_namespace(admin_http, name)
    yield name
    delete_namespace(admin_http, name)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts (serve, mostly); stopped afterwards, killed if they hang."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that asks for the sandbox is marked, so `-m "not sandbox"` runs the pure tests.
    for item in items:
        if {"sandbox", "namespace", "admin_http"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A SQLite store of the test's own (tests/store/ has one per backend)."""
    opened = await open_store(str(tmp_path / "helmguard.db"))
    try:
        yield opened
    finally:
        await opened.close()
