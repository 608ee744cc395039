"""No lost transitions: changes faster than a write batch each become a stored transition, in order.

A ConfigMap that is a release member and the envFrom dependency of the release's Deployment
is deleted and re-created back to back, several times, with no pause. Each delete makes the
ConfigMap Missing and the Deployment (and the app) Blocked; each re-create heals them. The
sync must store every one of those changes in order, even when delete and re-create land
while one write batch is still committing.
"""

from __future__ import annotations

import itertools
from typing import Any

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, Store, app_ref
from helmguard.sync import Sync, register_release
from sync.scenario import INSTANCE, app_of, create, deployment, eventually, row

CYCLES = 5


def config_map(name: str, release: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {INSTANCE: release}}, "data": {"k": "v"}}


async def test_quick_delete_and_recreate_stores_every_transition_in_order(
    kube: Kube, store: Store, namespace: str
) -> None:
    key = ReleaseKey(namespace, "flip")
    await register_release(store, key, f"{INSTANCE}=flip")
    cm_ref = ObjectRef("", "ConfigMap", namespace, "flip-cfg")
    dep_ref = ObjectRef("apps", "Deployment", namespace, "flip")
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    await create(kube, cms, config_map("flip-cfg", "flip"))
    dep = deployment("flip", "flip", "default")
    dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "flip-cfg"}}
    ]
    await create(kube, f"/apis/apps/v1/namespaces/{namespace}/deployments", dep)
    sync = Sync(kube, store, tick=0.5)
    await sync.start()
    try:

        async def all_ready() -> bool:
            rows = [await row(store, key, ref) for ref in (cm_ref, dep_ref)]
            app = await app_of(store, key)
            states = [r.state if r is not None else None for r in [*rows, app]]
            return states == ["Ready"] * 3

        await eventually(all_ready, "the ConfigMap, Deployment and app to be Ready", within=60)
        before = {
            ref: len(await store.history(key, ref=ref)) for ref in (cm_ref, dep_ref, app_ref(key))
        }

        # Back to back: the next request starts as soon as the API server answered the last.
        for _ in range(CYCLES):
            await kube.send_json("DELETE", f"{cms}/flip-cfg")
            await create(kube, cms, config_map("flip-cfg", "flip"))

        await eventually(all_ready, "everything Ready again", within=30)
        await sync.wait_idle()

        async def flips(ref: ObjectRef) -> list[str]:
            history = list(reversed(await store.history(key, ref=ref)))[before[ref] :]
            return [t.to_state for t in history]

        assert await flips(cm_ref) == ["Missing", "Ready"] * CYCLES
        assert await flips(dep_ref) == ["Blocked", "Ready"] * CYCLES
        assert await flips(app_ref(key)) == ["Blocked", "Ready"] * CYCLES
        for ref in (cm_ref, dep_ref):
            history = list(reversed(await store.history(key, ref=ref)))[before[ref] :]
            for earlier, later in itertools.pairwise(history):
                assert earlier.to_state == later.from_state, history
                assert earlier.at <= later.at, history
        blocked = [t for t in await store.history(key, ref=dep_ref) if t.to_state == "Blocked"]
        assert all(t.root_cause == cm_ref for t in blocked), blocked
    finally:
        await sync.stop()
