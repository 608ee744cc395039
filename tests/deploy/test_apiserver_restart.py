"""kube-apiserver killed mid-deploy on a private sandbox: the deploy resumes or fails clearly.

The sandbox is this module's own (a temporary HELMGUARD_SANDBOX_HOME), because its
kube-apiserver is SIGKILLed right after the first wave is applied (or when the wait
starts) and brought back with `restart_component`. Whatever the outcome, the revision
recorded on the cluster and in the store must say what the cluster really has.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, LogRecord, deploy, read_history
from helmguard.deploy.cluster import Cluster
from helmguard.kube.classifier import retry
from helmguard.kube.client import connect
from helmguard.kube.errors import MissingDependency, Transient
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import (
    Sandbox,
    load_sandbox,
    restart_component,
    sandbox_down,
    sandbox_up,
)
from helmguard.store import ReleaseKey, open_store
from kubeapi import sandbox_home

NAME = "deploy-restart"
CHARTS = Path(__file__).parent / "charts"

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Sandbox]]:
    home = tmp_path_factory.mktemp("deploy-restart-sandboxes")
    with sandbox_home(home):
        sandbox = sandbox_up(NAME)
    try:
        yield home, sandbox
    finally:
        with sandbox_home(home):
            sandbox_down(NAME)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kill_at", ["wave.applied", "wait.start"])
async def test_apiserver_restart_mid_deploy_leaves_a_true_record(
    private: tuple[Path, Sandbox], tmp_path: Path, kill_at: str
) -> None:
    home, sandbox = private
    ns = f"r-{uuid.uuid4().hex[:8]}"
    request = RenderRequest(
        chart=str(CHARTS / "fullstack"),
        release="demo",
        namespace=ns,
        values=ValuesOptions(set_values=(f"group={ns}.helmguard.test",)),
    )
    killed = asyncio.Event()

    def kill_once(record: LogRecord) -> None:
        # Synchronous, inside the deploy: no request of the next step gets through first.
        if record.step == kill_at and not killed.is_set():
            with sandbox_home(home):
                pid = load_sandbox(NAME).pids["kube-apiserver"]
            os.killpg(pid, signal.SIGKILL)
            killed.set()

    def restart() -> None:
        with sandbox_home(home):
            restart_component(NAME, "kube-apiserver", timeout=120)

    store = await open_store(str(tmp_path / "helmguard.db"))
    options = DeployOptions(
        kubeconfig=str(sandbox.kubeconfig), context=sandbox.admin_context, timeout=150
    )
    try:
        task = asyncio.create_task(deploy(request, options, store=store, listeners=[kill_once]))
        await asyncio.wait_for(killed.wait(), 120)
        await asyncio.sleep(2)  # the deploy meets the dead server, then it comes back
        await asyncio.to_thread(restart)
        result = await task

        assert result.outcome in ("deployed", "failed"), result.message
        if result.outcome == "failed":
            # The dead server's error, a gate that timed out on the restarted server (the
            # CRD not re-Established yet), or what the restarted cluster refused (its RBAC
            # caches still empty: FailedCreate): each failure names its cause.
            assert result.error_class == "Transient" or result.message.startswith(
                ("wave ", "Blocked: ", "Failed: ")
            ), result.message
        revisions = await store.list_revisions(ReleaseKey(ns, "demo"))
        assert [(r.number, r.outcome) for r in revisions] == [(result.revision, result.outcome)]
    finally:
        await store.close()

    kube = await connect(str(sandbox.kubeconfig), sandbox.admin_context, timeout=30)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        history = await read_history(cluster, ns, "demo")
        assert [(h.revision, h.outcome) for h in history] == [(result.revision, result.outcome)]
        recorded = set(history[0].inventory)
        assert recorded == {a.ref for a in result.applied}

        # Everything recorded is really there, with the uid the API server gave it.
        # A restarted API server serves the chart's CRD again only after it re-establishes
        # it: reads of custom resources are retried (Transient) until then.
        async def get(ref: ObjectRef, api_version: str) -> dict[str, Any] | None:
            return await retry(lambda: cluster.get(ref, api_version), timeout=20)

        for applied in result.applied:
            live = await get(applied.ref, applied.api_version)
            assert live is not None, f"{applied.ref} recorded as applied but absent"
            assert live["metadata"]["uid"] == applied.uid
        # And nothing of the chart is on the cluster without being recorded.
        for obj in history[0].objects:
            if obj.ref not in recorded:
                try:
                    live = await get(obj.ref, obj.api_version)
                except (Transient, MissingDependency):
                    live = None  # its kind is not served, so no object of it can exist
                assert live is None, (
                    f"{obj.ref} exists on the cluster but is not in the revision's inventory"
                )
    finally:
        await kube.aclose()
