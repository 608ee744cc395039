"""`helmguard status`, `status --live` and `watch` as processes, over what a real sync stored.

The store is filled by `Sync` against the sandbox (the seed incident: a Deployment whose
ServiceAccount is missing); the commands run as subprocesses and their output is parsed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, ResourceRecord, open_store
from helmguard.sync import Sync, register_release
from processes import helmguard
from sync.scenario import create, deployment, eventually, row


@dataclass(frozen=True)
class Seeded:
    key: ReleaseKey
    db: Path
    deployment: ObjectRef
    service_account: ObjectRef


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, helmguard(*args), capture_output=True, text=True, timeout=120, check=False
    )


async def _sync_until(
    kube: Kube, db: Path, key: ReleaseKey, ref: ObjectRef, wanted: Callable[[str], bool]
) -> str:
    """Run a real sync on `db` until `ref`'s stored state is `wanted`; return that state."""
    async with await open_store(str(db)) as store:
        sync = Sync(kube, store, tick=0.5)
        await sync.start()
        try:

            async def reached() -> ResourceRecord | None:
                r = await row(store, key, ref)
                return r if r and wanted(r.state) else None

            found, _ = await eventually(reached, f"{ref} to change state", within=90)
            return found.state
        finally:
            await sync.stop()


@pytest.fixture
async def seeded(kube: Kube, namespace: str, tmp_path: Path) -> AsyncIterator[Seeded]:
    """A store in which a real sync recorded the seed Deployment Blocked on its ServiceAccount."""
    key = ReleaseKey(namespace, "vault")
    db = tmp_path / "helmguard.db"
    async with await open_store(str(db)) as store:
        await register_release(store, key, "app.kubernetes.io/instance=vault")
    seed = Seeded(
        key,
        db,
        ObjectRef("apps", "Deployment", namespace, "common-vault"),
        ObjectRef("", "ServiceAccount", namespace, "vault-svc"),
    )
    await create(
        kube,
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        deployment("common-vault", "vault", "vault-svc"),
    )
    await _sync_until(kube, db, key, seed.deployment, lambda s: s == "Blocked")
    yield seed


async def test_status_reads_the_stored_state_reason_and_root_cause(
    seeded: Seeded, kube: Kube
) -> None:
    ns = seeded.key.namespace
    async with await open_store(str(seeded.db)) as store, Sync(kube, store, tick=0.5):
        # A sync is alive (its heartbeat is fresh): status reads what it stores.
        await _stored_while_syncing(seeded, ns)

    # No sync any more, and no cluster to read: the last stored state, as Unknown.
    answer = await run("status", "vault", "-n", ns, "--db", str(seeded.db), "-o", "json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["source"].startswith("stored by serve; no sync is running"), result["source"]
    assert (result["app"]["state"], result["app"]["reason"]) == ("Unknown", "NotSynced")
    assert "last stored: Blocked" in result["app"]["message"]


async def _stored_while_syncing(seeded: Seeded, ns: str) -> None:
    answer = await run("status", "vault", "-n", ns, "--db", str(seeded.db), "-o", "json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["read_from"] == "store"
    assert result["source"].startswith("stored by serve (sync alive"), result["source"]
    assert result["app"]["state"] == "Blocked"
    assert result["app"]["root_cause"] == str(seeded.service_account)
    members = {m["ref"]: m for m in result["members"]}
    dep = members[str(seeded.deployment)]
    assert (dep["state"], dep["reason"]) == ("Blocked", "MissingDependency")
    assert dep["root_cause"] == str(seeded.service_account)
    assert 'serviceaccount "vault-svc" not found' in dep["message"]

    table = await run("status", "vault", "-n", ns, "--db", str(seeded.db))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"release {ns}/vault: Blocked (stored by serve (sync alive")
    assert f"  root cause: {seeded.service_account}" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("OBJECT"))
    assert lines[header].split() == [
        "OBJECT",
        "STATE",
        "REASON",
        "SINCE",
        "ROOT",
        "CAUSE",
        "MESSAGE",
    ]
    dep_line = next(line for line in lines[header:] if line.startswith("Deployment/common-vault"))
    assert dep_line.split()[1:3] == ["Blocked", "MissingDependency"]
    assert str(seeded.service_account) in dep_line

    listed = await run("status", "--db", str(seeded.db), "-o", "json")
    assert listed.returncode == 0, listed.stderr
    releases = json.loads(listed.stdout)["releases"]
    assert [(r["namespace"], r["name"], r["state"]) for r in releases] == [(ns, "vault", "Blocked")]


async def test_status_live_lists_the_cluster_without_the_store(
    seeded: Seeded, sandbox: Any, tmp_path: Path
) -> None:
    ns = seeded.key.namespace
    empty = tmp_path / "empty.db"  # the store does not know the release: the selector says
    answer = await run(
        "status",
        "vault",
        "-n",
        ns,
        "--live",
        "--selector",
        "app.kubernetes.io/instance=vault",
        "--db",
        str(empty),
        "--kubeconfig",
        str(sandbox.kubeconfig),
        "--kube-context",
        sandbox.admin_context,
        "-o",
        "json",
    )
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["source"] == "live from the cluster, selector app.kubernetes.io/instance=vault"
    assert result["read_from"] == "live"
    assert result["app"]["state"] == "Blocked"
    assert result["app"]["root_cause"] == str(seeded.service_account)
    dep = next(m for m in result["members"] if m["ref"] == str(seeded.deployment))
    assert (dep["state"], dep["reason"]) == ("Blocked", "MissingDependency")
    assert 'serviceaccount "vault-svc" not found' in dep["message"]


async def test_unknown_release_is_a_clear_error(seeded: Seeded, sandbox: Any) -> None:
    ns = seeded.key.namespace
    for command in ("status", "watch"):
        answer = await run(command, "nope", "-n", ns, "--db", str(seeded.db))
        assert answer.returncode == 1, (command, answer.stdout, answer.stderr)
        assert f"Error: release {ns}/nope is not in the store" in answer.stderr, command
        assert "Traceback" not in answer.stderr
        assert answer.stdout == ""
    # No cluster to read (no kubeconfig here): why, and how to give one; no hint to register
    # a release nobody could look for.
    unread = await run("status", "nope", "-n", ns, "--db", str(seeded.db))
    assert "the cluster could not be read: No kubeconfig found" in unread.stderr, unread.stderr
    assert "helmguard manage" not in unread.stderr, unread.stderr
    # The cluster read, and no record of it there either: how to register it.
    hint = await run(
        "status", "nope", "-n", ns, "--db", str(seeded.db),
        "--kubeconfig", str(sandbox.kubeconfig), "--kube-context", sandbox.admin_context,
    )  # fmt: skip
    assert hint.returncode == 1, hint.stderr
    assert f"helmguard manage nope -n {ns}" in hint.stderr, hint.stderr
    assert "--live --selector" in hint.stderr


async def test_watch_prints_stored_and_new_transitions_until_interrupted(
    seeded: Seeded, kube: Kube
) -> None:
    ns = seeded.key.namespace
    proc = await asyncio.create_subprocess_exec(
        *helmguard("watch", "vault", "-n", ns, "--db", str(seeded.db), "--interval", "0.2"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []

    async def line_with(*words: str) -> str:
        async with asyncio.timeout(60):
            while True:
                for line in lines:
                    if all(w in line for w in words):
                        return line
                raw = await proc.stdout.readline()  # type: ignore[union-attr]
                assert raw, f"watch ended early: {lines}"
                lines.append(raw.decode())

    try:
        blocked = await line_with("Deployment/common-vault", "-> Blocked")
        assert "MissingDependency: " in blocked
        assert blocked.rstrip().endswith(f"(root cause {seeded.service_account})")
        # A change the sync stores while watch runs is printed as it lands.
        account = {"metadata": {"name": "vault-svc"}}
        await create(kube, f"/api/v1/namespaces/{ns}/serviceaccounts", account)
        now = await _sync_until(
            kube, seeded.db, seeded.key, seeded.deployment, lambda s: s != "Blocked"
        )
        assert now in ("Progressing", "Ready")
        healed = await line_with("Deployment/common-vault", f"-> {now}")
        # Healed from the ServiceAccount; it may still name a Pending pod while converging.
        assert str(seeded.service_account) not in healed
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 15)
    stderr = (await proc.stderr.read()).decode()
    assert code == 0, stderr
    assert "Traceback" not in stderr
