"""The deploy's wait follows watches, on the sandbox: changes wake it, idling costs no list.

- a change is seen as soon as the API server sends it, well before the idle re-look, and a
  wait where nothing changes sends no request at all;
- what the watches show is what a list shows: the same statuses as `observe_release`;
- a deployer who may list but not watch (nor list Nodes) gets the polling look, with the
  same statuses and errors as before;
- a deadline that falls while the wait watches is "timed out waiting for …", on time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Mapping

import httpx
import pytest

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.engine import Engine
from helmguard.deploy.observe import observe_release
from helmguard.deploy.oplog import OperationLog
from helmguard.deploy.watch import ReleaseWatch
from helmguard.kube.client import connect
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.status import ResourceStatus, State
from kubeapi import delete_namespace


@pytest.fixture
def ns(admin_http: httpx.Client) -> Iterator[str]:
    name = f"ww-{uuid.uuid4().hex[:10]}"
    created = admin_http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert created.status_code == 201, created.text
    yield name
    delete_namespace(admin_http, name)


def _post(admin_http: httpx.Client, path: str, body: dict[str, object]) -> None:
    created = admin_http.post(path, json=body)
    assert created.status_code == 201, created.text


def _daemonset(name: str) -> dict[str, object]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "nobody",
                    "containers": [{"name": "c", "image": "example.invalid/app:1"}],
                },
            },
        },
    }


def _seen(statuses: Mapping[ObjectRef, ResourceStatus]) -> dict[ObjectRef, tuple[object, ...]]:
    return {r: (s.state, s.reason, s.message, s.root_cause) for r, s in statuses.items()}


async def test_a_change_wakes_the_wait_and_idling_sends_no_request(
    sandbox: Sandbox, admin_http: httpx.Client, ns: str
) -> None:
    ref = ObjectRef("", "ConfigMap", ns, "late")
    service = ObjectRef("", "Service", ns, "web")  # child collections are watched too
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        async with ReleaseWatch(cluster, [ref, service]) as watch:
            first = await watch.snapshot()
            assert first.statuses[ref].state is State.MISSING
            assert not watch.polling
            assert all(i.stats.lists == 1 for i in watch.informers.values())
            before = kube.requests
            await watch.changed(2.0)  # nothing changes: no event, no list
            assert kube.requests == before
            _post(admin_http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "late"}})
            created = time.monotonic()
            # Another object of the namespace (the controller-manager's kube-root-ca.crt in
            # a new namespace) may wake the wait first: wait for this one's change.
            while (await watch.snapshot()).statuses[ref].state is not State.READY:
                left = created + 5.0 - time.monotonic()
                assert left > 0, "the new ConfigMap never reached the wait"
                await watch.changed(left)
            woke = time.monotonic() - created
            # Nothing was listed again: the watch delivered it.
            assert woke < 0.5, woke
            assert kube.requests == before
            assert all(i.stats.lists == 1 for i in watch.informers.values())
    finally:
        await kube.aclose()


async def test_watched_statuses_are_what_a_list_shows(
    sandbox: Sandbox, admin_http: httpx.Client, ns: str
) -> None:
    _post(admin_http, f"/apis/apps/v1/namespaces/{ns}/daemonsets", _daemonset("agent"))
    _post(admin_http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "conf"}})
    refs = [
        ObjectRef("apps", "DaemonSet", ns, "agent"),
        ObjectRef("", "ConfigMap", ns, "conf"),
        ObjectRef("", "Secret", ns, "absent"),
    ]
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        async with ReleaseWatch(cluster, refs) as watch:
            for _ in range(20):  # until the controller has judged the DaemonSet
                watched = _seen((await watch.snapshot()).statuses)
                listed = _seen((await observe_release(cluster, refs)).statuses)
                if watched == listed and watched[refs[0]][0] is not State.PROGRESSING:
                    break
                await asyncio.sleep(0.25)
            assert watched == listed
            assert not watch.polling
            assert watched[refs[2]][0] is State.MISSING
    finally:
        await kube.aclose()


async def test_a_deployer_who_may_not_watch_gets_the_polling_look(
    sandbox: Sandbox, admin_http: httpx.Client, ns: str
) -> None:
    # alice may get and list (not watch) in this namespace, and nothing cluster-wide (Nodes).
    _post(
        admin_http,
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {
            "metadata": {"name": "list-only"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}],
        },
    )
    _post(
        admin_http,
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "metadata": {"name": "alice-list-only"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "list-only",
            },
            "subjects": [
                {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}
            ],
        },
    )
    _post(admin_http, f"/apis/apps/v1/namespaces/{ns}/daemonsets", _daemonset("agent"))
    # The controller's FailedCreate Event first: both looks below then read the same words.
    for _ in range(600):
        answer = await asyncio.to_thread(admin_http.get, f"/api/v1/namespaces/{ns}/events")
        events = answer.json()["items"]
        if any(e.get("reason") == "FailedCreate" for e in events):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the DaemonSet controller said nothing in 30 s")
    refs = [ObjectRef("apps", "DaemonSet", ns, "agent"), ObjectRef("", "ConfigMap", ns, "later")]
    kube = await connect(sandbox.kubeconfig, context=sandbox.restricted_context)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        async with ReleaseWatch(cluster, refs) as watch:
            for _ in range(400):  # the informers list, then their watches are refused
                watched = (await watch.snapshot()).statuses
                if watch.polling and all(i.stats.errors for i in watch.informers.values()):
                    break
                await asyncio.sleep(0.05)
            assert all(i.stats.errors for i in watch.informers.values())
            assert watch.polling
            listed = (await observe_release(cluster, refs)).statuses
            assert _seen(watched) == _seen(listed)
            assert watched[refs[1]].state is State.MISSING
            # Without watches the wait lists again; it still sees the change.
            _post(
                admin_http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "later"}}
            )
            before = kube.requests
            await watch.changed(0.2)
            assert (await watch.snapshot()).statuses[refs[1]].state is State.READY
            assert kube.requests > before
    finally:
        await kube.aclose()


async def test_a_deadline_during_the_watch_is_a_timeout_naming_what_was_awaited(
    sandbox: Sandbox, ns: str
) -> None:
    ref = ObjectRef("", "ConfigMap", ns, "never")
    kube = await connect(sandbox.kubeconfig)
    try:
        started = time.monotonic()
        cluster = Cluster(kube, deadline=started + 2.0)
        engine = Engine(cluster, OperationLog(), ns, "r", 1)
        outcome = await engine.wait_ready([ref])
        elapsed = time.monotonic() - started
    finally:
        await kube.aclose()
    assert outcome.done and not outcome.ready
    assert outcome.state is State.MISSING
    assert outcome.message.startswith(f"timed out waiting for release: Missing: {ref} NotFound")
    assert outcome.root_cause == ref
    assert 2.0 <= elapsed < 3.5, elapsed


async def test_a_cache_behind_the_apply_is_not_judged(
    sandbox: Sandbox, admin_http: httpx.Client, ns: str
) -> None:
    """The apply's answer can come back before its watch event: a look right after it must
    not judge the object as it was (a rollback was Ready from the revision it replaced).
    Until the cache has taken in the version the apply returned, the collection is listed."""
    ref = ObjectRef("", "ConfigMap", ns, "cfg")
    _post(admin_http, f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cfg"}})
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        async with ReleaseWatch(cluster, [ref]) as watch:
            await watch.snapshot()
            patched = await kube.send_json(
                "PATCH",
                f"/api/v1/namespaces/{ns}/configmaps/cfg",
                {"data": {"k": "v"}},
                content_type="application/merge-patch+json",
            )
            version = patched["metadata"]["resourceVersion"]
            watch.expect({ref: version})
            # At once, whether or not the watch event has arrived: the applied version.
            look = await watch.snapshot()
            assert look.live[ref].metadata["resourceVersion"] == version
            # A version the cache never takes in (a re-list skipped it): listed every look.
            watch.expect({ref: "0"})
            before = kube.requests
            await watch.snapshot()
            await watch.snapshot()
            assert kube.requests == before + 2
    finally:
        await kube.aclose()
