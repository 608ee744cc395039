"""A fresh release whose workloads' ServiceAccount is missing is never Ready, on any surface.

The race is the point: a DaemonSet, a Deployment and a StatefulSet are deployed (one
release each, `--no-wait`, with a sync running on the same store, as `serve` runs it) while
the `status` action reads each release every 50 ms from before the deploy starts, both
from the sync's store and live from the cluster (the inventory the deploy recorded, not a
label selector). No read, and no transition the sync stored, may say Ready; every read
ends Blocked on the ServiceAccount. The deploy's own wait is held to the same in
tests/deploy/test_waits_sandbox.py, selector-registered releases in
tests/sync/test_fresh_sandbox.py, and the rules on recorded fresh objects in
tests/status/test_freshness.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, deploy
from helmguard.deploy.status import ReleaseNotFound, release_status
from helmguard.kube.client import Kube, connect
from helmguard.kube.config import load_config
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, open_store
from helmguard.sync import Sync

CHART = Path(__file__).parents[1] / "deploy" / "charts" / "workloads"
KINDS = ("DaemonSet", "Deployment", "StatefulSet")


async def test_fresh_workloads_with_a_missing_account_are_never_ready(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    store = await open_store(str(tmp_path / "helmguard.db"))
    kubeconfig, context = str(sandbox.kubeconfig), sandbox.admin_context
    # Forced: preflight would refuse the missing account before anything exists.
    options = DeployOptions(
        kubeconfig=kubeconfig, context=context, timeout=60, wait=False, force=True
    )
    account = ObjectRef("", "ServiceAccount", namespace, "absent")
    workloads = {ReleaseKey(namespace, k.lower()): k for k in KINDS}
    async with Kube(load_config(sandbox.kubeconfig, context)) as kube:
        sync = Sync(kube, store, tick=0.5)
        await sync.start()
        try:
            seen: dict[tuple[ReleaseKey, bool], list[str]] = {}

            async def follow(key: ReleaseKey, live: bool) -> None:
                """Read from before the deploy until Blocked on the account; never Ready."""
                states = seen.setdefault((key, live), [])
                workload = ObjectRef("apps", workloads[key], key.namespace, key.name)
                while True:
                    try:
                        told = await release_status(
                            key,
                            store=store,
                            open_kube=lambda: connect(kubeconfig, context, timeout=30),
                            live=live,
                        )
                    except ReleaseNotFound:  # the deploy has not recorded it yet
                        await asyncio.sleep(0.05)
                        continue
                    if not states or states[-1] != told.state:
                        states.append(told.state)
                    members = {m.ref: m for m in told.members}
                    assert told.state != "Ready", (key, live, told)
                    if workload in members:
                        assert members[workload].state != "Ready", (key, live, members[workload])
                    if told.state == "Blocked" and told.root_cause == account:
                        return
                    await asyncio.sleep(0.05)

            readers = [
                asyncio.ensure_future(follow(k, live)) for k in workloads for live in (True, False)
            ]
            results = await asyncio.gather(
                *(
                    deploy(
                        RenderRequest(
                            chart=str(CHART),
                            release=key.name,
                            namespace=namespace,
                            values=ValuesOptions(
                                set_values=(f"kind={kind}", "serviceAccount=absent")
                            ),
                        ),
                        options,
                        store=store,
                    )
                    for key, kind in workloads.items()
                )
            )
            assert all(r.outcome == "deployed" for r in results), [r.message for r in results]
            try:
                await asyncio.wait_for(asyncio.gather(*readers), 60)
            except TimeoutError:
                raise AssertionError(f"not all Blocked on {account} in 60 s: {seen}") from None
            # The store read is the sync's (not a live fallback): serve would say the same.
            for key in workloads:
                stored_read = await release_status(key, store=store, open_kube=None)
                assert stored_read.source == "store", stored_read.detail
            for key, kind in workloads.items():
                ref = ObjectRef("apps", kind, key.namespace, key.name)
                # The readers may have ended on live reads before the sync's refresher loaded
                # this release (it adds one at a time, each once its informers have listed).
                stored: list[str] = []
                async with asyncio.timeout(60):
                    while not stored:
                        await sync.wait_idle()
                        stored = [t.to_state for t in await store.history(key, ref=ref)]
                        await asyncio.sleep(0 if stored else 0.2)
                assert "Ready" not in stored, (ref, stored)
                assert "Ready" not in seen[(key, True)] + seen[(key, False)], seen
        finally:
            await sync.stop()
            await store.close()
