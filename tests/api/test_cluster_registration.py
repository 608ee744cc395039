"""POST /api/clusters and DELETE /api/clusters/{name} on a real SQLite store through the
app: the rules of `helmguard cluster add|remove` (helmguard.clusters), kubeconfig files
read by helmguard's own loader; bad input 422 naming the problem, a taken name 409, a
removal refused while the store holds the cluster's releases, nothing written on any
refusal; a read-only server refuses. Nothing here contacts a cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.conftest import AUTH, TOKEN, running
from cli.test_cluster import KUBECONFIG
from helmguard.api.app import create_app
from helmguard.store import ClusterRecord, ReleaseKey, ReleaseRecord, Store


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path.resolve())


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, token=TOKEN, public_read=True, poll_interval=0.05)
    async for client in running(app):
        yield client


async def _names(store: Store) -> list[str]:
    return [c.name for c in await store.list_clusters()]


async def test_register_then_list(api: httpx.AsyncClient, store: Store, kubeconfig: str) -> None:
    added = await api.post(
        "/api/clusters", json={"name": "b", "kubeconfig": kubeconfig, "context": "beta"}
    )
    assert added.status_code == 401, added.text  # a write: the token even with public reads
    added = await api.post(
        "/api/clusters",
        json={"name": "b", "kubeconfig": kubeconfig, "context": "beta"},
        headers=AUTH,
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["name"], body["registered"], body["releases"], body["sync"]) == (
        "b",
        True,
        0,
        None,
    )
    # No context: the file's current-context, stored by name.
    plain = await api.post(
        "/api/clusters", json={"name": "a", "kubeconfig": kubeconfig}, headers=AUTH
    )
    assert plain.status_code == 201, plain.text
    stored = await store.get_cluster("a")
    assert stored is not None
    assert (stored.kubeconfig, stored.context) == (kubeconfig, "alpha")
    listed = (await api.get("/api/clusters")).json()
    assert [(c["name"], c["registered"]) for c in listed] == [("a", True), ("b", True)]
    # The kubeconfig's token reaches neither the store nor the answer.
    assert "not-a-real-token" not in added.text + plain.text
    database = Path(kubeconfig).parent / "helmguard.db"  # the store fixture's file
    assert database.exists() and b"not-a-real-token" not in database.read_bytes()


@pytest.mark.parametrize(
    ("name", "context", "said"),
    [
        ("Bad_Name", "beta", "'Bad_Name' is not a cluster name: a DNS-1123 label"),
        ("trailing-", "beta", "is not a cluster name: a DNS-1123 label"),
        ("x" * 64, "beta", "is not a cluster name: a DNS-1123 label"),
        ("b", "gamma", "Context 'gamma' is not defined"),
    ],
)
async def test_bad_input_is_422_naming_it_and_writes_nothing(
    api: httpx.AsyncClient, store: Store, kubeconfig: str, name: str, context: str, said: str
) -> None:
    answer = await api.post(
        "/api/clusters",
        json={"name": name, "kubeconfig": kubeconfig, "context": context},
        headers=AUTH,
    )
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["detail"]
    assert await _names(store) == []


async def test_a_missing_kubeconfig_is_422_and_a_taken_name_409(
    api: httpx.AsyncClient, store: Store, kubeconfig: str, tmp_path: Path
) -> None:
    missing = await api.post(
        "/api/clusters", json={"name": "b", "kubeconfig": str(tmp_path / "nope")}, headers=AUTH
    )
    assert missing.status_code == 422 and "does not exist" in missing.json()["detail"]
    shapeless = await api.post("/api/clusters", json={"name": "b"}, headers=AUTH)
    assert shapeless.status_code == 422  # no kubeconfig at all: the body's validation
    assert await _names(store) == []
    first = await api.post(
        "/api/clusters", json={"name": "b", "kubeconfig": kubeconfig}, headers=AUTH
    )
    assert first.status_code == 201, first.text
    again = await api.post(
        "/api/clusters",
        json={"name": "b", "kubeconfig": kubeconfig, "context": "beta"},
        headers=AUTH,
    )
    assert again.status_code == 409, again.text
    assert "cluster 'b' is already registered (context 'alpha'" in again.json()["detail"]
    stored = await store.get_cluster("b")
    assert stored is not None and stored.context == "alpha"  # the first one stays


async def test_remove_follows_the_cli_rule_for_held_releases(
    api: httpx.AsyncClient, store: Store, kubeconfig: str
) -> None:
    await store.add_cluster(ClusterRecord("b", kubeconfig, "alpha"))
    for key in (ReleaseKey("default", "web", "b"), ReleaseKey("default", "web")):
        await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1, "deployed"))
    unknown = await api.delete("/api/clusters/c", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "cluster 'c' is not registered; registered: b"
    assert (await api.delete("/api/clusters/b")).status_code == 401
    refused = await api.delete("/api/clusters/b", headers=AUTH)
    assert refused.status_code == 409, refused.text
    assert "holds 1 release(s) of cluster 'b' (default/web)" in refused.json()["detail"]
    assert await _names(store) == ["b"]
    assert len(await store.list_releases("b")) == 1
    forgot = await api.delete("/api/clusters/b", params={"forget_releases": "true"}, headers=AUTH)
    assert forgot.status_code == 204, forgot.text
    assert await _names(store) == []
    # The default cluster's release of the same name is untouched.
    assert [r.key for r in await store.list_releases()] == [ReleaseKey("default", "web")]
    listed = (await api.get("/api/clusters")).json()
    assert [c["name"] for c in listed] == [""]


async def test_a_read_only_server_refuses_registrations(store: Store, kubeconfig: str) -> None:
    await store.add_cluster(ClusterRecord("b", kubeconfig, "alpha"))
    app = create_app(store, token=TOKEN, read_only=True, poll_interval=0.05)
    async for api in running(app):
        added = await api.post(
            "/api/clusters", json={"name": "c", "kubeconfig": kubeconfig}, headers=AUTH
        )
        assert added.status_code == 403, added.text
        assert "--read-only" in added.json()["detail"]
        removed = await api.delete("/api/clusters/b", headers=AUTH)
        assert removed.status_code == 403, removed.text
        info = (await api.get("/api/info", headers=AUTH)).json()
        assert info["deploy_clusters"] == []
    assert await _names(store) == ["b"]


async def test_exactly_one_of_kubeconfig_and_secret(
    api: httpx.AsyncClient, store: Store, kubeconfig: str
) -> None:
    for body in (
        {"name": "b"},
        {"name": "b", "kubeconfig": kubeconfig, "secret": "hg/cluster-b"},
    ):
        refused = await api.post("/api/clusters", json=body, headers=AUTH)
        assert refused.status_code == 422, refused.text
        assert "exactly one of kubeconfig (a file) and secret (a Secret)" in refused.text
    malformed = await api.post(
        "/api/clusters", json={"name": "b", "secret": "cluster-b"}, headers=AUTH
    )
    assert malformed.status_code == 422 and "is not NAMESPACE/NAME" in malformed.text
    assert await _names(store) == []
