"""The sync's Prometheus metrics reach the API's /metrics: watch reconnects and sync lag."""

from __future__ import annotations

import re
from typing import Any

from api.conftest import AUTH, TOKEN, running
from helmguard.api.app import create_app
from helmguard.kube.client import Kube
from helmguard.kube.informer import Informer
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, Store
from helmguard.sync import Sync, register_release
from sync.scenario import create, deployment, row
from sync.scenario import eventually as wait_for
from sync.test_informer import configmaps, eventually, recorder


async def _metrics(store: Store) -> str:
    async for client in running(create_app(store, token=TOKEN)):
        answer = await client.get("/metrics", headers=AUTH)
        assert answer.status_code == 200, answer.text
        return answer.text
    raise AssertionError("the app did not start")


def _reconnects(text: str, resource: str) -> float:
    pattern = rf'^helmguard_watch_reconnects_total\{{resource="{re.escape(resource)}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_restarted_watch_is_counted_on_metrics(
    kube: Kube, store: Store, namespace: str
) -> None:
    before = _reconnects(await _metrics(store), "v1/configmaps")
    seen: list[Any] = []
    # timeoutSeconds=1: the API server ends each watch after a second; the informer resumes.
    informer = Informer(
        kube, await configmaps(kube), recorder(seen), namespace=namespace, watch_timeout=1
    )
    informer.start()
    try:
        await eventually(lambda: informer.stats.watches >= 3, "two resumed watches", within=20)
        resumed = informer.stats.watches - 1
    finally:
        await informer.stop()
    assert informer.metric_label == "v1/configmaps"
    after = _reconnects(await _metrics(store), "v1/configmaps")
    # Other informers of this test run may count too; this one's resumptions certainly do.
    assert after - before >= resumed >= 2


async def test_sync_lag_is_the_latest_commit_latency(
    kube: Kube, store: Store, namespace: str
) -> None:
    key = ReleaseKey(namespace, "vault")
    await register_release(store, key, "app.kubernetes.io/instance=vault")
    latencies: list[float] = []
    sync = Sync(kube, store, tick=0.5, on_commit=lambda *c: latencies.append(c[3]))
    await sync.start()
    try:
        await create(
            kube,
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            deployment("common-vault", "vault", "vault-svc"),
        )
        dep_ref = ObjectRef("apps", "Deployment", namespace, "common-vault")

        async def blocked() -> object:
            r = await row(store, key, dep_ref)
            return r if r and r.state == "Blocked" else None

        await wait_for(blocked, "the Deployment Blocked")
    finally:
        await sync.stop()
    text = await _metrics(store)
    found = re.search(r"^helmguard_sync_lag_seconds (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    # The gauge is the last commit's lag: the latency of its oldest change (a release's
    # app row commits with its members), so at least the last member's latency.
    assert latencies and 0 < latencies[-1] <= float(found.group(1)) < 10
