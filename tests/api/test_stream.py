"""The live stream carries what any writer of the database commits, filtered by release."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.conftest import AUTH, REPO, TOKEN
from api.live import read_events, serving
from helmguard.api.app import create_app
from helmguard.manifest import ObjectRef
from helmguard.store import EventRecord, ObservedStatus, ReleaseKey, ReleaseRecord, open_store

WORKER = REPO / "tests" / "store" / "store_worker.py"
Events = list[tuple[str, dict[str, Any]]]


async def _wait_for(predicate: Any, what: str, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_stream_carries_another_process_writes_filtered_by_release(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "helmguard.db")
    async with await open_store(db) as writer:
        await writer.record_release(ReleaseRecord(ReleaseKey("shop", "web"), "web", "1.0.0"))
        await writer.record_release(ReleaseRecord(ReleaseKey("shop", "other"), "web", "1.0.0"))
    # The API only reads; the writes come from a separate writing process.
    reader = await open_store(db, read_only=True)
    app = create_app(reader, token=TOKEN, poll_interval=0.05)
    everything: Events = []
    web: Events = []
    other: Events = []
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            readies = [asyncio.Event() for _ in range(3)]
            tasks = [
                asyncio.create_task(
                    read_events(client, "/api/stream", everything, readies[0], headers=AUTH)
                ),
                asyncio.create_task(
                    read_events(
                        client,
                        "/api/stream",
                        web,
                        readies[1],
                        headers=AUTH,
                        params={"namespace": "shop", "name": "web"},
                    )
                ),
                asyncio.create_task(
                    read_events(
                        client,
                        "/api/stream",
                        other,
                        readies[2],
                        headers=AUTH,
                        params={"namespace": "shop", "name": "other"},
                    )
                ),
            ]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 10)
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                "burst",
                db,
                "web",
                "120",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await worker.communicate()
            assert worker.returncode == 0, err.decode()
            await _wait_for(lambda: len(web) >= 120, "120 transitions on the filtered stream")
            await asyncio.sleep(0.3)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await reader.close()
    transitions = [data for event, data in web if event == "transition"]
    assert len(transitions) == 120
    ids = [t["id"] for t in transitions]
    assert ids == sorted(ids) and len(set(ids)) == 120
    assert all(
        t["release"] == {"namespace": "shop", "name": "web", "cluster": ""} for t in transitions
    )
    assert transitions[0]["ref"]["kind"] == "Pod"
    assert [d for _, d in everything] == [d for _, d in web]
    assert other == []


async def test_operation_steps_transitions_and_events_are_streamed(tmp_path: Path) -> None:
    key = ReleaseKey("shop", "web")
    async with await open_store(str(tmp_path / "h.db")) as store:
        await store.record_release(ReleaseRecord(key, "web", "1.0.0"))
        app = create_app(store, token=TOKEN, poll_interval=0.05)
        got: Events = []
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            ready = asyncio.Event()
            task = asyncio.create_task(read_events(client, "/api/stream", got, ready, headers=AUTH))
            await asyncio.wait_for(ready.wait(), 10)
            await store.add_operation_log(key, 1, "apply", "wave 0: 3 objects applied")
            now = datetime.now(UTC)
            pod = ObjectRef("", "Pod", "shop", "web-0")
            await store.upsert_resource_status(
                key, ObservedStatus(pod, "Progressing", "ContainerCreating", "<b>x</b>", now, now)
            )
            scheduled = EventRecord(
                "e-1", pod, "Normal", "Scheduled", "assigned shop/web-0", 1, now, now, "sched"
            )
            await store.add_events(key, [scheduled])
            await _wait_for(lambda: len(got) >= 3, "a step, a transition and an Event")
            # Its count growing updates the row: no second `event` (the page reads it anew).
            await store.add_events(key, [replace(scheduled, count=2)])
            await asyncio.sleep(0.5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            metrics = (await client.get("/metrics", headers=AUTH)).text
    kinds = dict(got)
    assert kinds["operation"]["step"] == "apply"
    assert kinds["operation"]["message"] == "wave 0: 3 objects applied"
    assert kinds["transition"]["to_state"] == "Progressing"
    assert kinds["transition"]["message"] == "<b>x</b>"
    assert 'helmguard_status_transitions_total{to_state="Progressing"}' in metrics
    assert [event for event, _ in got].count("event") == 1
    assert kinds["event"]["release"] == {"namespace": "shop", "name": "web", "cluster": ""}
    assert kinds["event"]["ref"]["name"] == "web-0"
    assert (kinds["event"]["reason"], kinds["event"]["count"]) == ("Scheduled", 1)
