"""The seed scenario end to end through the sync: Blocked on a missing ServiceAccount, then healed.

A release is registered by selector (as `helmguard manage` does), the sync runs against the
sandbox, and the test reads only what the sync stored: the current rows and the transitions.
"""

from __future__ import annotations

import httpx

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, Store
from helmguard.sync import Sync, register_release
from sync.scenario import app_of, create, deployment, eventually, row


async def test_missing_service_account_blocks_then_heals(
    kube: Kube, store: Store, admin_http: httpx.Client, namespace: str
) -> None:
    key = ReleaseKey(namespace, "vault")
    await register_release(store, key, "app.kubernetes.io/instance=vault")
    dep_ref = ObjectRef("apps", "Deployment", namespace, "common-vault")
    sa_ref = ObjectRef("", "ServiceAccount", namespace, "vault-svc")
    sync = Sync(kube, store, tick=0.5)
    await sync.start()
    try:
        await create(
            kube,
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            deployment("common-vault", "vault", "vault-svc"),
        )

        async def blocked_with_cluster_words() -> object:
            r = await row(store, key, dep_ref)
            if r and r.state == "Blocked" and "error looking up service account" in r.message:
                return r
            return None

        blocked, waited = await eventually(blocked_with_cluster_words, "Blocked with the cause")
        assert blocked.reason == "MissingDependency"
        assert blocked.root_cause == sa_ref
        assert 'serviceaccount "vault-svc" not found' in blocked.message
        assert waited < 10, f"detection took {waited:.2f}s"
        app = await app_of(store, key)
        assert app is not None and app.state == "Blocked" and app.root_cause == sa_ref
        release = await store.get_release(key)
        # The sync stores the app status beside what the last operation left, not over it.
        assert release is not None and release.status == "registered"
        assert not any(r.ref.group == "helmguard.io" for r in await store.list_resources(key))

        await create(
            kube,
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"metadata": {"name": "vault-svc"}},
        )

        async def ready() -> object:
            r = await row(store, key, dep_ref)
            return r if r and r.state == "Ready" else None

        await eventually(ready, "the Deployment to become Ready", within=90)
        history = list(reversed(await store.history(key, ref=dep_ref)))
        states = [t.to_state for t in history]
        assert states[0] in ("Progressing", "Blocked")
        first_blocked = states.index("Blocked")
        assert "Progressing" in states[first_blocked:], states
        assert states[-1] == "Ready"
        assert states.index("Progressing", first_blocked) < len(states) - 1
        app = await app_of(store, key)
        assert app is not None and app.state == "Ready"
    finally:
        await sync.stop()
