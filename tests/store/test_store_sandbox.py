"""A Secret as the real API server returns it goes through the store without its contents."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from helmguard.store import REDACTED, ReleaseKey, ReleaseRecord, RevisionRecord, open_store
from helmguard.store.db import Backend

PLAINTEXT = "sandbox-unseal-key-0815"


@pytest.mark.sandbox
async def test_secret_read_from_the_api_server_is_stored_redacted(
    db_url: str, admin_http: httpx.Client, namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "vault-unseal", "namespace": namespace},
        "stringData": {"unseal-key": PLAINTEXT},
        "type": "Opaque",
    }
    # What `kubectl apply` sends: the object, with itself copied into this annotation.
    last_applied = json.dumps(body)
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": last_applied
    }
    secrets = f"/api/v1/namespaces/{namespace}/secrets"
    created = await asyncio.to_thread(admin_http.post, secrets, json=body)
    assert created.status_code == 201, created.text
    live = (await asyncio.to_thread(admin_http.get, f"{secrets}/vault-unseal")).json()
    encoded = live["data"]["unseal-key"]

    release = ReleaseKey(namespace, "vault")
    now = datetime.now(UTC)
    async with await open_store(db_url) as store:
        await store.record_release(ReleaseRecord(release, "vault", "0.28.0"))
        await store.record_revision(
            RevisionRecord(release, 1, "vault", "0.28.0", "sha256:0", now, plan={"objects": [live]})
        )
        await store.add_operation_log(release, 1, "apply", "applied", details={"live": live})
        [revision] = await store.list_revisions(release)
        reader = Backend(store.target, writer=False)
        try:
            rows = await reader.run(
                lambda connection: [
                    *connection.execute(text("SELECT plan FROM revisions")),
                    *connection.execute(text("SELECT details FROM operation_log")),
                ]
            )
        finally:
            await reader.dispose()
    stored = " ".join(str(row[0]) for row in rows)
    assert live["metadata"]["uid"] in stored
    assert PLAINTEXT not in stored and encoded not in stored
    assert revision.plan is not None
    assert revision.plan["objects"][0]["data"] == {"unseal-key": REDACTED}
