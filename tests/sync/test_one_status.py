"""The deploy, `status --live` and serve's sync judge each object of a release alike.

One release at a time is deployed with the deploy action (the seed chart, forced past
preflight: Blocked on its ServiceAccount; the same chart running as `default`: Ready). Then,
for every object of its inventory, three surfaces must give the same state and reason:

- the deploy's final status of it (the last `wait.transition` its wait logged);
- `status --live` (the status action reading the cluster now);
- what serve's sync stored (a `Sync` on the deploy's store).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, deploy
from helmguard.deploy.status import release_status
from helmguard.kube.client import Kube, connect
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, Store
from helmguard.sync import Sync

SEED = Path(__file__).parents[2] / "examples" / "vault-seed"
Told = dict[str, tuple[str, str]]  # ref -> (state, reason)


@pytest.mark.parametrize(
    ("sets", "outcome"),
    [
        (("namespace.create=false",), "failed"),
        (("namespace.create=false", "serviceAccount.name=default"), "deployed"),
    ],
    ids=["seed-blocked", "ready"],
)
async def test_deploy_live_and_serve_give_each_object_the_same_state_and_reason(
    sandbox: Sandbox, kube: Kube, store: Store, namespace: str, sets: tuple[str, ...], outcome: str
) -> None:
    key = ReleaseKey(namespace, "common")
    values = ValuesOptions(set_values=sets)
    request = RenderRequest(chart=str(SEED), release=key.name, namespace=namespace, values=values)
    options = DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90, force=True)
    result = await deploy(request, options, store=store)
    assert result.outcome == outcome, result.message
    by_deploy: Told = {}
    for record in result.log:
        if record.step == "wait.transition":
            by_deploy[str(record.details["ref"])] = (
                str(record.details["state"]),
                str(record.details["reason"]),
            )
    inventory = {str(a.ref) for a in result.applied}
    assert set(by_deploy) == inventory

    async def live() -> Told:
        found = await release_status(
            key, store=store, open_kube=lambda: connect(sandbox.kubeconfig), live=True
        )
        assert found.source == "live"
        return {str(m.ref): (m.state, m.reason) for m in found.members}

    async def stored() -> Told:
        return {str(r.ref): (r.state, r.reason) for r in await store.list_resources(key)}

    sync = Sync(kube, store)
    await sync.start()
    try:
        # The sync writes what it sees; the release has settled (the deploy's verdict is
        # final), so its rows reach the deploy's verdicts unless the surfaces disagree.
        deadline = time.monotonic() + 30
        while True:
            await sync.wait_idle()
            by_live, by_sync = await live(), await stored()
            if by_deploy == by_live == by_sync or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await sync.stop()
    assert by_live == by_deploy, {"deploy": by_deploy, "status --live": by_live}
    assert by_sync == by_deploy, {"deploy": by_deploy, "serve": by_sync}
