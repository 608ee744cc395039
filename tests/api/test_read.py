"""Read endpoints over a store filled by the real status rules from recorded objects."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from api.conftest import AUTH, TOKEN, running
from helmguard.api.app import create_app
from helmguard.manifest import ObjectRef
from helmguard.store import AppRecord, ObservedStatus, ReleaseKey, ReleaseRecord, Store


async def test_release_list_has_state_and_root_cause(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/releases", headers=AUTH)
    assert answer.status_code == 200
    [item] = answer.json()
    assert item["release"] == {"namespace": "msga-cn", "name": "common", "cluster": ""}
    assert item["state"] == "Blocked"
    assert item["root_cause"]["text"] == "ServiceAccount msga-cn/vault-svc"
    assert item["summary"].startswith("ServiceAccount msga-cn/vault-svc → Deployment.apps")
    assert 'serviceaccount "vault-svc" not found' in item["summary"]


async def test_release_detail_components(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/releases/msga-cn/common", headers=AUTH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"]["state"] == "Blocked"
    [component] = body["components"]
    assert component["ref"]["text"] == "Deployment.apps msga-cn/common-vault"
    assert component["state"] == "Blocked"
    assert component["reason"] == "MissingDependency"
    assert component["root_cause"]["name"] == "vault-svc"
    assert "error looking up service account msga-cn/vault-svc" in component["message"]
    assert component["since"]
    kinds = {r["ref"]["kind"] for r in body["resources"]}
    assert {"ConfigMap", "Service", "Namespace"} <= kinds


async def test_unknown_release_is_404_with_a_message(client: httpx.AsyncClient) -> None:
    for path in ("", "/graph", "/events", "/history", "/log", "/revisions"):
        answer = await client.get(f"/api/releases/nowhere/nothing{path}", headers=AUTH)
        assert answer.status_code == 404, path
        assert "release nowhere/nothing is not recorded" in answer.json()["detail"]
    missing_revision = await client.get("/api/releases/msga-cn/common/revisions/7", headers=AUTH)
    assert missing_revision.status_code == 404
    assert "no revision 7" in missing_revision.json()["detail"]


async def test_revisions_log_events_history(client: httpx.AsyncClient) -> None:
    base = "/api/releases/msga-cn/common"
    revisions = (await client.get(f"{base}/revisions", headers=AUTH)).json()
    assert [(r["number"], r["outcome"]) for r in revisions] == [(1, "deployed")]
    detail = (await client.get(f"{base}/revisions/1", headers=AUTH)).json()
    assert detail["plan"]["waves"][0]["objects"][0]["kind"] == "Namespace"
    log = (await client.get(f"{base}/log", headers=AUTH)).json()
    assert [(e["seq"], e["step"]) for e in log] == [(1, "plan"), (2, "apply")]
    assert (await client.get(f"{base}/log?revision=2", headers=AUTH)).json() == []
    events = (await client.get(f"{base}/events", headers=AUTH)).json()
    [event] = events
    assert event["reason"] == "FailedCreate" and event["count"] == 12
    assert event["ref"]["kind"] == "ReplicaSet"
    history = (await client.get(f"{base}/history", headers=AUTH)).json()
    deployment = [t for t in history if t["ref"]["kind"] == "Deployment"]
    assert deployment and deployment[0]["from_state"] is None
    assert deployment[0]["to_state"] == "Blocked"
    one = await client.get(
        f"{base}/history",
        params={
            "group": "apps",
            "kind": "Deployment",
            "object_namespace": "msga-cn",
            "object_name": "common-vault",
        },
        headers=AUTH,
    )
    assert [t["ref"]["name"] for t in one.json()] == ["common-vault"]


async def test_graph_marks_the_missing_service_account_edge(client: httpx.AsyncClient) -> None:
    graph = (await client.get("/api/releases/msga-cn/common/graph", headers=AUTH)).json()
    assert graph["revision"] == 1
    assert graph["waves"][0] == ["Namespace msga-cn"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    sa = nodes["ServiceAccount msga-cn/vault-svc"]
    assert sa["in_release"] is False and sa["wave"] is None
    broken = [e for e in graph["edges"] if e["broken"]]
    [edge] = broken
    assert edge["source"] == "Deployment.apps msga-cn/common-vault"
    assert edge["target"] == "ServiceAccount msga-cn/vault-svc"
    assert 'serviceaccount "vault-svc" not found' in edge["message"]
    # The chart's own ConfigMap reference is drawn and healthy.
    assert any(
        e["target"] == "ConfigMap msga-cn/common-vault-config" and not e["broken"]
        for e in graph["edges"]
    )


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "detail": ""}
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 401
    metrics = await client.get("/metrics", headers=AUTH)
    assert metrics.status_code == 200
    assert "helmguard_http_errors_total" in metrics.text
    assert "helmguard_deploy_duration_seconds" in metrics.text


async def test_list_and_detail_read_the_release_app_status_not_the_rows(store: Store) -> None:
    """The app status is the release's stored column: rows alone say nothing of the release."""
    key = ReleaseKey("shop", "web")
    now = datetime.now(UTC)
    dep = ObjectRef("apps", "Deployment", "shop", "web")
    await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1, "deployed"))
    await store.upsert_resource_status(
        key, ObservedStatus(dep, "Blocked", "FailedCreate", "no SA", now, now)
    )
    app = create_app(store, token=TOKEN, poll_interval=0.05)
    async for client in running(app):
        [item] = (await client.get("/api/releases", headers=AUTH)).json()
        detail = (await client.get("/api/releases/shop/web", headers=AUTH)).json()
        assert (item["state"], item["root_cause"]) == ("Unknown", None)
        assert (detail["status"]["state"], detail["status"]["reason"]) == ("Unknown", "NotSynced")
        assert detail["stored_status"] == "deployed"

        sa = ObjectRef("", "ServiceAccount", "shop", "web-sa")
        blocked = AppRecord("Blocked", "FailedCreate", f"{dep}: no SA", now, now, root_cause=sa)
        await store.upsert_statuses(apps=[(key, blocked)])
        [item] = (await client.get("/api/releases", headers=AUTH)).json()
        detail = (await client.get("/api/releases/shop/web", headers=AUTH)).json()
        assert (item["state"], item["summary"]) == ("Blocked", f"{sa} → {dep}: no SA")
        assert item["root_cause"]["text"] == str(sa) and item["culprit"]["text"] == str(dep)
        assert detail["status"]["state"] == "Blocked"
        assert detail["status"]["root_cause"]["text"] == str(sa)
        assert [c["ref"]["text"] for c in detail["components"]] == [str(dep)]
        history = (await client.get("/api/releases/shop/web/history", headers=AUTH)).json()
        assert [h["ref"]["kind"] for h in history] == ["Release", "Deployment"]
