"""One operation's run: its Lease, the release's history, the store, and their clean-up.

Every action opens a Run first: under the release's Lease it reads the history, rewrites
legacy records, refuses while helm writes the release, and marks what a dead process
left pending or running as interrupted. `begin` and `finish` record the revision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.config import CLEANUP_SECONDS, Configuration, DeployOptions
from helmguard.deploy.history import ReleaseBusy, read_history, write_record
from helmguard.deploy.lock import ReleaseLock, acquire
from helmguard.deploy.oplog import OperationLog, Step
from helmguard.deploy.release import (
    REVISION_ANNOTATION,
    Applied,
    RevisionManifest,
    legacy_record_name,
    owner_of,
    record_kind,
    record_name,
    release_id,
    with_status,
)
from helmguard.graph.order import Plan, plan_to_dict
from helmguard.kube.client import Kube
from helmguard.kube.errors import KubeError
from helmguard.manifest import K8sObject, ObjectRef

if TYPE_CHECKING:
    from helmguard.store import InventoryItem, ReleaseKey, RevisionRecord, Store


@dataclass(frozen=True)
class StoredHook:
    """A hook read back from a release record (same shape as chart.render.Hook)."""

    obj: K8sObject
    events: tuple[str, ...]
    weight: int
    delete_policies: tuple[str, ...]


@dataclass
class Run:
    """One operation's context: connection, lock, log, store, and the release's history."""

    operation: str
    namespace: str
    name: str
    options: DeployOptions
    config: Configuration
    log: OperationLog
    kube: Kube | None = None
    cluster: Cluster | None = None
    lock: ReleaseLock | None = None
    history: list[RevisionManifest] = field(default_factory=list)
    revision: int = 0
    started: float = field(default_factory=time.monotonic)

    store: Store | None = None
    # What `open` found a dead process had left: revision number -> the objects it applied.
    interrupted: dict[int, tuple[Applied, ...]] = field(default_factory=dict)
    # A deploy of a release the store has revisions of and the cluster no record of (an
    # --atomic first install removed it): numbered from the cluster's records, as helm
    # numbers it (1), and what the store kept of the removed release is forgotten when
    # the new revision is first recorded (`begin`), as `helmguard uninstall` forgets it.
    forget_stored: bool = False

    @property
    def key(self) -> ReleaseKey:
        from helmguard.store import ReleaseKey

        return ReleaseKey(self.namespace, self.name, self.options.cluster)

    async def open_store(self) -> Store | None:
        """The store, once open (None when the operation is not recorded)."""
        opener = self.config.store
        if self.store is None and opener is not None:
            self.store = await opener() if callable(opener) else opener
        return self.store

    async def connect(self) -> Kube:
        if self.kube is None:
            self.kube = await self.config.connect(min(30.0, self.options.timeout))
        return self.kube

    async def new_cluster(self) -> Cluster:
        """A Cluster from the Configuration's factory, with the operation's deadline."""
        return await self.config.cluster(self.connect, self.started + self.options.timeout)

    async def open(self) -> Cluster:
        self.cluster = await self.new_cluster()
        self.lock = await acquire(
            self.cluster,
            self.namespace,
            self.name,
            operation=self.operation,
            lock_namespace=self.options.lock_namespace,
        )
        self.log.emit(Step.LOCK_ACQUIRED, f"locked release {self.namespace}/{self.name}")
        self.history = await read_history(
            self.cluster, self.namespace, self.name, kind=self.record_kind
        )
        await self._migrate()
        await self._check_pending()
        stored = 0
        await self.open_store()
        if self.store is not None:
            revisions = await self.store.list_revisions(self.key)
            self.forget_stored = bool(revisions) and not self.history and self.operation == "deploy"
            if not self.forget_stored:
                stored = max((r.number for r in revisions), default=0)
            for r in revisions:
                if r.outcome in ("pending", "running"):
                    # We hold the Lease, so whoever left it running is gone.
                    await self._interrupt_stored(r)
        self.revision = max([stored, *(h.revision for h in self.history)], default=0) + 1
        return self.cluster

    def latest(self) -> RevisionManifest:
        """The release's newest stored revision; KubeError (not found) when it has none."""
        if not self.history:
            raise KubeError(
                f"release {self.namespace}/{self.name} not found: no stored revisions in "
                f"namespace {self.namespace}.",
                fix="Check the release name and namespace.",
            )
        return self.history[-1]

    def cleanup_budget(self) -> None:
        """Give clean-up its own time, whatever the operation left of its deadline."""
        if self.cluster is not None:
            self.cluster.deadline = max(self.cluster.deadline, time.monotonic() + CLEANUP_SECONDS)

    @property
    def record_kind(self) -> str:
        return record_kind(self.options.driver)

    async def _migrate(self) -> None:
        """Rewrite helmguard's legacy records as Helm's (first touch since the format changed)."""
        assert self.cluster is not None
        for rev in self.history:
            if not rev.legacy:
                continue
            await write_record(self.cluster, rev, self.log, self.record_kind, new=True)
            await self.cluster.delete(
                ObjectRef("", "Secret", self.namespace, legacy_record_name(self.name, rev.revision))
            )
            self.log.emit(
                Step.RECORD_MIGRATED,
                f"revision {rev.revision}: helmguard's record rewritten as Helm's "
                f"{record_name(self.name, rev.revision)}",
            )
        self.history = [replace(r, legacy=False) for r in self.history]

    async def _check_pending(self) -> None:
        """Refuse while helm is writing the release; finish what a dead helmguard left pending.

        A pending revision helmguard wrote, seen while holding the Lease, was left by a
        process that died: it is marked failed, as Helm marks an interrupted operation.
        """
        assert self.cluster is not None
        latest = self.history[-1] if self.history else None
        if latest is None or not latest.pending:
            return
        if not latest.facts:
            raise ReleaseBusy(
                f"release {self.namespace}/{self.name}: revision {latest.revision} is "
                f"{latest.status}: another operation (install/upgrade/rollback) is in progress",
                fix="Wait for the helm operation to finish; if it died, `helm rollback` the "
                "release (helm's own remedy for a stuck pending release).",
            )
        found = await _applied_on_cluster(self.cluster, latest, self.history[:-1])
        applied = {a.ref: a for a in (*latest.applied, *found)}
        stale = with_status(
            replace(latest, applied=tuple(applied.values())),
            "failed",
            outcome="interrupted",
            description=f"{latest.description}: interrupted (the process running it died)",
        )
        await write_record(self.cluster, stale, self.log, self.record_kind)
        self.history[-1] = stale
        self.interrupted[latest.revision] = stale.applied
        self.log.emit(
            Step.REVISION_STALE,
            f"revision {latest.revision} was left {latest.status} by a process that died; "
            f"marked failed (interrupted) with {len(stale.applied)} object(s) applied: "
            + ", ".join(str(a.ref) for a in stale.applied),
            level="warning",
            applied=[a.to_json() for a in stale.applied],
        )

    async def _interrupt_stored(self, r: RevisionRecord) -> None:
        """Mark a stored revision a dead process left running interrupted, with what it applied."""
        assert self.store is not None
        from helmguard.store import InventoryItem, LogStep

        # What the cluster record says was applied: just settled, or written before the death.
        recorded = next((h.applied for h in self.history if h.revision == r.number and h.facts), ())
        applied = {a.ref: a for a in self.interrupted.get(r.number, recorded)}
        stored = r.inventory or ()
        inventory = [
            InventoryItem(i.ref, applied[i.ref].uid if i.ref in applied else i.uid) for i in stored
        ]
        inventory += [
            InventoryItem(ref, a.uid)
            for ref, a in applied.items()
            if ref not in {i.ref for i in stored}
        ]
        done = [i for i in inventory if i.uid]
        message = (
            f"revision {r.number} was left {r.outcome} by a process that died; marked "
            f"interrupted with {len(done)} object(s) applied: "
            + ", ".join(str(i.ref) for i in done)
        )
        await self.store.add_operation_logs(
            self.key,
            r.number,
            [
                LogStep(
                    Step.INTERRUPTED,
                    message,
                    "error",
                    {"applied": [a.to_json() for a in applied.values()]},
                )
            ],
        )
        record = await self.store.get_release(self.key)
        await self.store.finish_revision(
            self.key,
            r.number,
            "interrupted",
            inventory=inventory,
            # The last operation's outcome (the app status is the sync's, in its own columns).
            release=replace(record, status="interrupted", updated_at=None) if record else None,
        )
        self.interrupted.setdefault(r.number, tuple(applied.values()))
        self.log.emit(Step.REVISION_STALE, message, level="warning")

    async def close(self) -> None:
        self.cleanup_budget()
        if self.lock is not None:
            await self.lock.release()
        if self.kube is not None and self.config.close_kube:
            await self.kube.aclose()

    async def begin(
        self,
        chart: str,
        version: str,
        digest: str,
        the_plan: Plan | None,
        inventory: Sequence[InventoryItem] = (),
    ) -> None:
        """Record the revision as running, with the inventory it is about to apply."""
        if self.store is None:
            return
        from helmguard.store import ReleaseRecord, RevisionRecord
        from helmguard.sync.releases import DEPLOYING_STATUS

        if self.forget_stored and await self.store.delete_release(self.key):
            self.log.emit(
                Step.HISTORY_FORGOTTEN,
                f"release {self.namespace}/{self.name} has no record on the cluster: the "
                f"stored history of the removed release is forgotten; this is revision "
                f"{self.revision}, as helm numbers it",
            )
        # One transaction: a reader never sees the new current revision without its inventory.
        await self.store.record_release(
            ReleaseRecord(self.key, chart, version, self.revision, DEPLOYING_STATUS),
            revision=RevisionRecord(
                self.key,
                self.revision,
                chart,
                version,
                digest,
                self.config.now(),
                plan_to_dict(the_plan) if the_plan is not None else None,
                "running",
                inventory=tuple(inventory),
            ),
        )
        self.log.bind(self.store, self.key, self.revision)
        await self.log.sync()

    async def finish(
        self,
        outcome: str,
        status: str,
        chart: str,
        version: str,
        inventory: Sequence[InventoryItem] | None = None,
    ) -> None:
        """Record the outcome and what the revision left on the cluster (`inventory`)."""
        self.cleanup_budget()
        if self.store is None:
            return
        from helmguard.store import ReleaseRecord

        await self.log.sync()
        await self.store.finish_revision(
            self.key,
            self.revision,
            outcome,
            inventory=inventory,
            release=ReleaseRecord(self.key, chart, version, self.revision, status),
        )
        await self.store.flush()


def inventory_items(
    objects: Sequence[K8sObject], applied: Mapping[ObjectRef, Applied]
) -> list[InventoryItem]:
    """The release objects of a revision (hooks are not, as in Helm), with the uids applied."""
    from helmguard.store import InventoryItem

    return [InventoryItem(o.ref, applied[o.ref].uid if o.ref in applied else "") for o in objects]


async def _applied_on_cluster(
    cluster: Cluster, rev: RevisionManifest, earlier: Sequence[RevisionManifest]
) -> list[Applied]:
    """What a revision that died half way had applied: its objects stamped with its number.

    The cluster is asked rather than the operation log, which may have lost the last
    steps (and an apply the API server took but never answered is on the cluster).
    """
    before = {ref for h in earlier for ref in h.inventory}
    objects = [*rev.crds, *rev.objects]
    lives = await asyncio.gather(*(cluster.get(o.ref, o.api_version) for o in objects))
    found: list[Applied] = []
    for obj, live in zip(objects, lives, strict=True):
        meta = (live or {}).get("metadata") or {}
        stamped = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        if live is None or owner_of(live) != release_id(rev.namespace, rev.release):
            continue
        if stamped != str(rev.revision):
            continue
        found.append(
            Applied(
                obj.ref,
                str(live.get("apiVersion") or obj.api_version),
                str(meta.get("uid") or ""),
                str(meta.get("resourceVersion") or ""),
                obj.ref not in before,
            )
        )
    return found


def stored_hooks(rev: RevisionManifest) -> list[StoredHook]:
    return [
        StoredHook(
            K8sObject(h["body"]),
            tuple(h.get("events") or ()),
            int(h.get("weight") or 0),
            tuple(h.get("delete_policies") or ()),
        )
        for h in rev.hooks
    ]
