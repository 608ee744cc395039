"""The library actions the CLI and the HTTP API call: plan, deploy, rollback, uninstall.

Each action takes plain options, returns a frozen result, and reports progress through
an `OperationLog` (listeners get every step live). Nothing is recorded as applied unless
the API server answered with the object; a revision that stops half way says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.lock import LOCK_NAMESPACE, ReleaseLock, acquire
from helmguard.deploy.observe import Verdict
from helmguard.deploy.oplog import Listener, LogRecord, OperationLog
from helmguard.deploy.release import (
    HELM_OWNER,
    LEGACY_OWNER,
    RECORD_NAME_LABEL,
    RECORD_OWNER_LABEL,
    REVISION_ANNOTATION,
    Applied,
    RevisionManifest,
    decode_record,
    encode_record,
    go_time,
    helm_hooks,
    helm_release,
    hook_json,
    least_recent,
    legacy_record_name,
    owner_of,
    record_kind,
    record_name,
    release_id,
    with_status,
)
from helmguard.graph.order import Plan, build_plan, hook_steps, plan_to_dict
from helmguard.kube.client import Kube, connect
from helmguard.kube.errors import KubeError, retry
from helmguard.manifest import K8sObject, ObjectRef

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart, RenderRequest
    from helmguard.preflight.report import Report
    from helmguard.store import InventoryItem, ReleaseKey, RevisionRecord, Store

# Recording the outcome (store and cluster), releasing the Lease and writing the log get
# this long after the operation's own deadline, which a timeout has used up entirely.
CLEANUP_SECONDS = 20.0

# The store may be handed over still opening (its imports are slow): awaited when first needed.
StoreOpener = Callable[[], Awaitable["Store | None"]]


@dataclass(frozen=True)
class StoredHook:
    """A hook read back from a release record (same shape as chart.render.Hook)."""

    obj: K8sObject
    events: tuple[str, ...]
    weight: int
    delete_policies: tuple[str, ...]


@dataclass(frozen=True)
class DeployOptions:
    """How to reach the cluster and how careful to be."""

    kubeconfig: str | None = None
    context: str | None = None
    timeout: float = 300.0
    wait: bool = True
    force: bool = False  # skip the preflight gate
    force_conflicts: bool = False
    adopt: bool = False
    atomic: bool = False
    concurrency: int = 16
    keep_history: bool = False
    # A LoadBalancer Service without an address is reported, and waited for only if asked.
    wait_for_load_balancers: bool = False
    lock_namespace: str = LOCK_NAMESPACE
    driver: str | None = None  # HELM_DRIVER: secret or configmap (None: the environment's)
    description: str = ""  # the revision's description instead of Helm's default
    history_max: int = 10  # records kept per release, as helm upgrade's default (0: all)
    create_namespace: bool = False
    # An upgrade's values, as helm upgrade's flags: "" (Helm's default: the previous
    # revision's values when none are given), "reuse", "reset", "reset-then-reuse".
    values_mode: str = ""
    skip_crds: bool = False  # helm's --skip-crds: the chart's crds/ are not installed


@dataclass(frozen=True)
class Result:
    """What an operation did, in words and as data."""

    operation: str
    release: str
    namespace: str
    revision: int
    outcome: str  # deployed, failed, refused, interrupted, rolled-back, uninstalled, passed
    message: str
    root_cause: ObjectRef | None = None
    applied: tuple[Applied, ...] = ()
    pruned: tuple[ObjectRef, ...] = ()
    deleted: tuple[ObjectRef, ...] = ()
    report: Report | None = None
    rollback: Result | None = None
    log: tuple[LogRecord, ...] = ()
    seconds: float = 0.0
    error_class: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("deployed", "uninstalled", "passed")


def plan(rendered: RenderedChart, *, operation: str = "install") -> Plan:
    """The waves and hooks `deploy` would execute for a rendered chart."""
    return build_plan(
        rendered.objects, hooks=rendered.hooks, crds=rendered.crds, operation=operation
    )


# ---- release records on the cluster ---------------------------------------------------------


async def read_history(
    cluster: Cluster, namespace: str, name: str, *, kind: str | None = None
) -> list[RevisionManifest]:
    """Every stored revision of the release, oldest first ([] when the namespace is empty).

    Helm's records in `kind` (Secret or ConfigMap; default: HELM_DRIVER's), whoever wrote
    them, and helmguard's legacy records for revisions that have no Helm record yet.
    """
    kind = kind or record_kind()
    selector = f"{RECORD_NAME_LABEL}={name}"
    items = await cluster.list(
        "", kind, namespace, label_selector=f"{RECORD_OWNER_LABEL}={HELM_OWNER},{selector}"
    )
    legacy = await cluster.list(
        "", "Secret", namespace, label_selector=f"{RECORD_OWNER_LABEL}={LEGACY_OWNER},{selector}"
    )
    found: dict[int, RevisionManifest] = {}
    for item in [*legacy, *items]:
        with contextlib.suppress(ValueError):
            rev = decode_record(item)
            found[rev.revision] = rev
    return [found[r] for r in sorted(found)]


async def _write_record(
    cluster: Cluster, rev: RevisionManifest, log: OperationLog, kind: str, *, new: bool = False
) -> None:
    """Store `rev` as Helm does: create a new revision's record, replace an existing one.

    Raises ReleaseBusy when a new revision's record already exists: another client (helm,
    or helmguard without the Lease) is writing the same release.
    """
    body = encode_record(rev, kind)
    try:
        if new:
            await cluster.create(body)
        else:
            await cluster.replace(body)
    except KubeError as err:
        if new and err.code == 409:
            raise ReleaseBusy(
                f"release {rev.namespace}/{rev.release}: revision {rev.revision} was just "
                "written by another client; another operation (install/upgrade/rollback) is "
                "in progress",
                fix="Wait for it to finish (helm status / helmguard history shows it), then retry.",
            ) from None
        if not new and err.code == 404:
            await _write_record(cluster, rev, log, kind, new=True)
            return
        log.emit(
            "record.failed",
            f"could not store revision {rev.revision} as {kind} "
            f"{record_name(rev.release, rev.revision)}: {err.message}",
            level="warning",
        )


class ReleaseBusy(KubeError):
    """The release's latest revision is pending: another operation is writing it."""


# ---- the shared executor --------------------------------------------------------------------


@dataclass
class _Run:
    """One operation's context: connection, lock, log, store, and the release's history."""

    operation: str
    namespace: str
    name: str
    options: DeployOptions
    log: OperationLog
    store_or_opener: Store | StoreOpener | None
    kube: Kube | None = None
    cluster: Cluster | None = None
    lock: ReleaseLock | None = None
    history: list[RevisionManifest] = field(default_factory=list)
    revision: int = 0
    started: float = field(default_factory=time.monotonic)

    store: Store | None = None
    keep_kube: bool = False  # the connection is the caller's: `close` leaves it open
    # What `open` found a dead process had left: revision number -> the objects it applied.
    interrupted: dict[int, tuple[Applied, ...]] = field(default_factory=dict)

    @property
    def key(self) -> ReleaseKey:
        from helmguard.store import ReleaseKey

        return ReleaseKey(self.namespace, self.name)

    async def open_store(self) -> Store | None:
        """The store, once open (None when the operation is not recorded)."""
        opener = self.store_or_opener
        if self.store is None and opener is not None:
            self.store = await opener() if callable(opener) else opener
        return self.store

    async def connect(self) -> Kube:
        if self.kube is None:
            self.kube = await connect(
                self.options.kubeconfig,
                self.options.context,
                timeout=min(30.0, self.options.timeout),
            )
        return self.kube

    async def open(self) -> Cluster:
        await self.connect()
        assert self.kube is not None
        self.cluster = Cluster(self.kube, deadline=self.started + self.options.timeout)
        self.lock = await acquire(
            self.cluster,
            self.namespace,
            self.name,
            operation=self.operation,
            lock_namespace=self.options.lock_namespace,
        )
        self.log.emit("lock.acquired", f"locked release {self.namespace}/{self.name}")
        self.history = await read_history(
            self.cluster, self.namespace, self.name, kind=self.record_kind
        )
        await self._migrate()
        await self._check_pending()
        stored = 0
        await self.open_store()
        if self.store is not None:
            revisions = await self.store.list_revisions(self.key)
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
            await _write_record(self.cluster, rev, self.log, self.record_kind, new=True)
            await self.cluster.delete(
                ObjectRef("", "Secret", self.namespace, legacy_record_name(self.name, rev.revision))
            )
            self.log.emit(
                "record.migrated",
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
        await _write_record(self.cluster, stale, self.log, self.record_kind)
        self.history[-1] = stale
        self.interrupted[latest.revision] = stale.applied
        self.log.emit(
            "revision.stale",
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
                    "interrupted",
                    message,
                    "error",
                    {"applied": [a.to_json() for a in applied.values()]},
                )
            ],
        )
        await self.store.finish_revision(self.key, r.number, "interrupted", inventory=inventory)
        record = await self.store.get_release(self.key)
        if record is not None:
            # The last operation's outcome (the app status is the sync's, in its own columns).
            await self.store.record_release(replace(record, status="interrupted", updated_at=None))
        self.interrupted.setdefault(r.number, tuple(applied.values()))
        self.log.emit("revision.stale", message, level="warning")

    async def close(self) -> None:
        self.cleanup_budget()
        if self.lock is not None:
            await self.lock.release()
        if self.kube is not None and not self.keep_kube:
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

        await self.store.record_release(
            ReleaseRecord(self.key, chart, version, self.revision, "deploying")
        )
        await self.store.record_revision(
            RevisionRecord(
                self.key,
                self.revision,
                chart,
                version,
                digest,
                datetime.now(UTC),
                plan_to_dict(the_plan) if the_plan is not None else None,
                "running",
                inventory=tuple(inventory),
            )
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
        await self.store.finish_revision(self.key, self.revision, outcome, inventory=inventory)
        await self.store.record_release(
            ReleaseRecord(self.key, chart, version, self.revision, status)
        )
        await self.store.flush()


def _inventory(
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


def _stored_hooks(rev: RevisionManifest) -> list[StoredHook]:
    return [
        StoredHook(
            K8sObject(h["body"]),
            tuple(h.get("events") or ()),
            int(h.get("weight") or 0),
            tuple(h.get("delete_policies") or ()),
        )
        for h in rev.hooks
    ]


_PENDING = {
    "install": ("pending-install", "Initial install underway"),
    "upgrade": ("pending-upgrade", "Preparing upgrade"),
    "rollback": ("pending-rollback", ""),
}
_DONE = {"install": "Install complete", "upgrade": "Upgrade complete"}
_FAILED = {"install": "Release", "upgrade": "Upgrade", "rollback": "Rollback"}


def _helm_base(rendered: RenderedChart, values: UpgradeValues | None = None) -> dict[str, Any]:
    """What Helm stores of a render: the chart, user values, manifest, hooks, NOTES."""
    from helmguard.chart.render import release_manifest

    chart = dict(rendered.chart_json) or {
        "metadata": {"name": rendered.chart_name, "version": rendered.chart_version}
    }
    if values is not None and values.chart_values is not None:
        chart["values"] = values.chart_values
    return {
        "chart": chart,
        "config": dict(rendered.user_values if values is None else values.config),
        "manifest": release_manifest(rendered),
        "hooks": helm_hooks(
            rendered.hooks, rendered.manifests[len(rendered.manifests) - len(rendered.hooks) :]
        ),
        "notes": rendered.notes,
    }


def _helm_base_of(rev: RevisionManifest) -> dict[str, Any]:
    """The same, from a stored revision (rollback re-applies what it stored, as Helm does)."""
    return {
        "chart": rev.helm.get("chart") or {},
        "config": dict(rev.config),
        "manifest": rev.manifest,
        "hooks": list(rev.helm.get("hooks") or ()),
        "notes": rev.notes,
    }


async def _apply_revision(
    run: _Run,
    *,
    objects: Sequence[K8sObject],
    crds: Sequence[K8sObject],
    hooks: Sequence[Any],
    chart: str,
    chart_version: str,
    digest: str,
    operation: str,
    base: Mapping[str, Any],
    rollback_to: int = 0,
    report: Report | None = None,
) -> Result:
    """Apply a set of objects as a new revision; prune what the previous one had extra.

    The revision's Helm record is created pending (pending-install/-upgrade/-rollback)
    before anything is applied, so helm refuses to operate on the release meanwhile, and
    rewritten deployed or failed at the end; the revision it replaces becomes superseded.
    """
    assert run.cluster is not None
    cluster = run.cluster
    the_plan = build_plan(objects, hooks=hooks, crds=crds, operation=operation)
    for cycle in the_plan.cycles:
        run.log.emit("plan.cycle", cycle.describe(), level="warning")
    previous = run.history[-1] if run.history else None
    deployed = [h for h in run.history if h.status == "deployed"]
    now = go_time(datetime.now(UTC))
    pending_status, pending_text = _PENDING[operation]
    done_text = run.options.description or _DONE.get(operation, f"Rollback to {rollback_to}")
    pending = RevisionManifest(
        run.name,
        run.namespace,
        run.revision,
        chart,
        chart_version,
        digest,
        "running",
        tuple(objects),
        tuple(crds),
        hook_json(hooks),
        (),
        status=pending_status,
        helm=helm_release(
            name=run.name,
            namespace=run.namespace,
            revision=run.revision,
            chart=base["chart"],
            config=base["config"],
            manifest=base["manifest"],
            hooks=base["hooks"],
            notes=base["notes"],
            status=pending_status,
            description=pending_text or done_text,
            first_deployed=str(
                (deployed[-1].info.get("first_deployed") if deployed else None) or now
            ),
            last_deployed=now,
            rollback_revision=rollback_to,
        ),
        labels=previous.labels if previous is not None else {},
    )
    if run.options.history_max > 0:
        # Helm's --history-max: room for this revision, the last deployed one always kept.
        old = least_recent(run.history, run.options.history_max - 1)
        for h in old:
            await cluster.delete(
                ObjectRef("", run.record_kind, run.namespace, record_name(run.name, h.revision))
            )
        if old:
            run.log.emit(
                "record.pruned",
                f"--history-max {run.options.history_max}: removed the records of revision(s) "
                + ", ".join(str(h.revision) for h in old),
            )
            dropped = {h.revision for h in old}
            run.history = [h for h in run.history if h.revision not in dropped]
    # Before the first object is applied: helm sees the release busy from here on.
    await _write_record(cluster, pending, run.log, run.record_kind, new=True)
    await run.begin(chart, chart_version, digest, the_plan, _inventory(the_plan.objects, {}))
    engine = Engine(
        cluster,
        run.log,
        run.namespace,
        run.name,
        run.revision,
        force_conflicts=run.options.force_conflicts,
        adopt=run.options.adopt,
        concurrency=run.options.concurrency,
        wait_for_load_balancers=run.options.wait_for_load_balancers,
    )
    run.log.emit(
        "plan",
        f"revision {run.revision}: {len(the_plan.objects)} objects in {len(the_plan.waves)} waves",
        waves=len(the_plan.waves),
        objects=len(the_plan.objects),
    )
    outcome, message, root, error_class = "deployed", "", None, ""
    pruned: list[ObjectRef] = []
    failure: DeployFailed | None = None

    def record(outcome_now: str) -> RevisionManifest:
        # A failed revision still lists what it applied: uninstall and prune must find it.
        ok = outcome_now == "deployed"
        text = done_text if ok else f'{_FAILED[operation]} "{run.name}" failed: {message}'
        return with_status(
            replace(pending, applied=tuple(engine.applied.values())),
            "deployed" if ok else "failed",
            outcome=outcome_now,
            description=text,
        )

    try:
        await engine.run_hooks(the_plan.pre_hooks, f"pre-{operation}")
        await engine.run_waves(the_plan)
        if previous is not None:
            keep = {o.ref for o in the_plan.objects}
            gone = [r for r in previous.inventory if r not in keep]
            if gone:
                old_plan = build_plan(
                    [o for o in previous.objects if o.ref in set(gone)], operation="delete"
                )
                stray = set(gone) - {o.ref for o in old_plan.objects}
                pruned = await engine.delete_in_order(old_plan)
                pruned += await engine.delete_and_wait(sorted(stray), only_owned=True)
                run.log.emit(
                    "prune",
                    f"pruned {len(pruned)} object(s) of revision {previous.revision}",
                    objects=[str(r) for r in pruned],
                )
        if run.options.wait:
            run.log.emit("wait.start", f"waiting for {len(the_plan.objects)} resources")
            verdict: Verdict = await engine.wait_ready([o.ref for o in the_plan.objects])
            if not verdict.ready:
                raise DeployFailed(verdict.message, verdict=verdict)
            run.log.emit("wait.ready", verdict.message)
        await engine.run_hooks(the_plan.post_hooks, f"post-{operation}")
        message = f"revision {run.revision} deployed: {len(engine.applied)} objects applied"
    except DeployFailed as exc:
        failure = exc
        outcome, message = "failed", exc.message
        if exc.error is not None:
            error_class = type(exc.error).__name__
        if exc.verdict is not None:
            root = exc.verdict.root_cause
    except KubeError as exc:
        failure = DeployFailed(exc.explain(), error=exc)
        outcome, message, error_class = "failed", exc.explain(), type(exc).__name__
    except asyncio.CancelledError:
        run.log.emit(
            "interrupted",
            f"interrupted; {len(engine.applied)} object(s) were applied: "
            + ", ".join(str(r) for r in engine.applied),
            level="error",
            applied=[a.to_json() for a in engine.applied.values()],
        )
        message = "interrupted"
        run.cleanup_budget()
        await asyncio.shield(
            _write_record(cluster, record("interrupted"), run.log, run.record_kind)
        )
        await asyncio.shield(
            run.finish(
                "interrupted",
                "interrupted",
                chart,
                chart_version,
                _inventory(the_plan.objects, engine.applied),
            )
        )
        raise
    level = "info" if failure is None else "error"
    run.log.emit(
        "verdict",
        message,
        level=level,
        outcome=outcome,
        rootCause=str(root) if root else None,
        errorClass=error_class or None,
    )
    run.cleanup_budget()
    final = record(outcome)
    if failure is None:
        # Helm's upgrade and rollback: what was deployed is superseded by this revision.
        for i, h in enumerate(run.history):
            if h.status == "deployed":
                run.history[i] = with_status(h, "superseded")
                await _write_record(cluster, run.history[i], run.log, run.record_kind)
    await _write_record(cluster, final, run.log, run.record_kind)
    run.history.append(final)
    rollback_result: Result | None = None
    if failure is not None and run.options.atomic:
        rollback_result = await _atomic_restore(run, engine, previous)
        outcome = "rolled-back" if rollback_result.ok else "failed"
    await run.finish(
        outcome if outcome != "rolled-back" else "failed",
        "deployed" if outcome == "deployed" else outcome,
        chart,
        chart_version,
        _inventory(the_plan.objects, engine.applied),
    )
    return Result(
        operation,
        run.name,
        run.namespace,
        run.revision,
        outcome,
        message + (f"\natomic: {rollback_result.message}" if rollback_result is not None else ""),
        root,
        tuple(engine.applied.values()),
        tuple(pruned),
        (),
        report,
        rollback_result,
        tuple(run.log.records),
        time.monotonic() - run.started,
        error_class,
    )


async def _atomic_restore(run: _Run, failed: Engine, previous: RevisionManifest | None) -> Result:
    """Undo a failed revision: re-apply the previous one, or delete all of a first install."""
    assert run.cluster is not None
    # The rollback gets its own time budget: the failure may have used all of the first.
    run.cluster.deadline = time.monotonic() + run.options.timeout
    if previous is None or previous.outcome != "deployed":
        run.log.emit("atomic.start", "first install failed: deleting everything it applied")
        # As Helm's uninstall on failure: with the failed revision's delete hooks around it.
        the_plan = build_plan(
            [o for o in run.history[-1].objects if o.ref in failed.applied],
            hooks=_stored_hooks(run.history[-1]),
            operation="delete",
        )
        try:
            await failed.run_hooks(the_plan.pre_hooks, "pre-delete")
            deleted = await failed.delete_in_order(the_plan)
            await failed.run_hooks(the_plan.post_hooks, "post-delete")
        except DeployFailed as exc:
            return Result("rollback", run.name, run.namespace, run.revision, "failed", exc.message)
        # Helm's atomic install uninstalls: the release's records go too (the store keeps them).
        for h in run.history:
            await run.cluster.delete(
                ObjectRef("", run.record_kind, run.namespace, record_name(run.name, h.revision))
            )
        run.log.emit("atomic.done", f"deleted {len(deleted)} object(s) and the release records")
        return Result(
            "rollback",
            run.name,
            run.namespace,
            run.revision,
            "uninstalled",
            f"first install removed: {len(deleted)} object(s) deleted",
            deleted=tuple(deleted),
        )
    run.log.emit("atomic.start", f"restoring revision {previous.revision}")
    sub = _Run(
        "rollback",
        run.namespace,
        run.name,
        DeployOptions(**{**run.options.__dict__, "atomic": False}),
        run.log,
        run.store,
        run.kube,
        run.cluster,
        run.lock,
        list(run.history),
        run.revision + 1,
        store=run.store,
    )
    result = await _apply_revision(
        sub,
        objects=previous.objects,
        crds=previous.crds,
        hooks=_stored_hooks(previous),
        chart=previous.chart,
        chart_version=previous.chart_version,
        digest=previous.values_digest,
        operation="rollback",
        base=_helm_base_of(previous),
        rollback_to=previous.revision,
    )
    run.history[:] = sub.history
    return Result(
        "rollback",
        run.name,
        run.namespace,
        sub.revision,
        result.outcome,
        f"restored revision {previous.revision} as revision {sub.revision}: {result.outcome}"
        + ("" if result.ok else f": {result.message}"),
        result.root_cause,
        result.applied,
        result.pruned,
    )


# ---- actions --------------------------------------------------------------------------------


def _values_digest(values: Any) -> str:
    from helmguard.store import values_digest

    return values_digest(values)


def _preflight_verdict(
    report: Report, log: OperationLog, threshold: Any
) -> tuple[str, ObjectRef | None] | None:
    """Log every finding; the refusal message and culprit when one is at `threshold`."""
    errors = [f for f in report.findings if f.severity >= threshold]
    for f in report.findings:
        log.emit(
            "preflight.finding",
            f"{f.code} {f.severity} {f.object} {f.path}: {f.message}",
            level="error" if f.severity >= threshold else "warning",
            code=f.code,
            object=str(f.object),
            path=f.path,
            fix=f.fix,
        )
    if not errors:
        log.emit("preflight.passed", f"preflight: {len(report.findings)} finding(s), no errors")
        return None
    first = errors[0]
    message = (
        f"preflight found {len(errors)} error(s); nothing was applied. First: "
        f"{first.object} {first.path}: {first.message}. Fix: {first.fix} (--force deploys anyway)"
    )
    log.emit("verdict", message, level="error", outcome="refused")
    return message, first.target or first.object


VALUES_MODES = ("", "reuse", "reset", "reset-then-reuse")


def current_release(history: Sequence[RevisionManifest]) -> RevisionManifest | None:
    """The revision an upgrade starts from, as Helm's prepareUpgrade picks it."""
    if not history:
        return None
    last = history[-1]
    if last.status == "deployed":
        return last
    deployed = [h for h in history if h.status == "deployed"]
    if deployed:
        return deployed[-1]
    return last if last.status in ("failed", "superseded") else None


@dataclass(frozen=True)
class UpgradeValues:
    """An upgrade's values, as Helm's Upgrade.reuseValues computes them."""

    render: dict[str, Any]  # the values to render with
    config: dict[str, Any]  # the user-supplied values stored with the revision
    chart_values: dict[str, Any] | None = None  # --reuse-values: the chart defaults stored


def upgrade_values(
    new: Mapping[str, Any], current: RevisionManifest | None, mode: str
) -> UpgradeValues:
    """Helm's Upgrade.reuseValues for the new user values and the release as it stands.

    --reuse-values renders over the previous revision's chart defaults merged with its
    values (and Helm stores those as the chart's values); helmguard merges them under the
    new values instead of replacing the new chart's defaults, which differs only for keys
    the new chart's values.yaml adds.
    """
    from helmguard.chart.values import coalesce_tables

    if mode not in VALUES_MODES:
        raise ValueError(f"unknown values mode {mode!r}; use one of {VALUES_MODES}")
    vals = dict(new)
    if current is None or mode == "reset":
        return UpgradeValues(vals, vals)
    old = dict(current.config)
    if mode == "reuse":
        vals = coalesce_tables(vals, old)
        defaults = coalesce_tables(old, dict((current.helm.get("chart") or {}).get("values") or {}))
        return UpgradeValues(coalesce_tables(dict(vals), defaults), vals, defaults)
    if mode == "reset-then-reuse":
        vals = coalesce_tables(vals, old)
        return UpgradeValues(vals, vals)
    if not vals and old:
        return UpgradeValues(old, old)
    return UpgradeValues(vals, vals)


async def _create_namespace(run: _Run, namespace: str) -> None:
    """Helm's --create-namespace: the release namespace, labelled `name`, if it is missing."""
    kube = await run.connect()
    cluster = Cluster(kube, deadline=run.started + run.options.timeout)
    ref = ObjectRef("", "Namespace", "", namespace)
    if await cluster.get(ref) is not None:
        return
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"name": namespace}},
    }
    try:
        await cluster.create(body)
    except KubeError as err:
        if err.code != 409:  # created meanwhile: as good
            raise
    run.log.emit("namespace.created", f"created namespace {namespace}")


async def deploy(
    request: RenderRequest,
    options: DeployOptions = DeployOptions(),
    *,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
    rendered: RenderedChart | None = None,
) -> Result:
    """Install or upgrade a release: preflight gate, waves, prune, wait; atomic if asked.

    Raises ChartError/ManifestError for charts that cannot be rendered and KubeError when
    the cluster cannot be reached or the release is locked; every failure after that is
    reported in the Result (outcome `failed`, with the classified error and root cause).
    """
    from helmguard.chart.capabilities import capabilities_from, with_capabilities
    from helmguard.chart.render import render_chart
    from helmguard.preflight.check import check_cluster
    from helmguard.preflight.findings import Severity

    log = OperationLog(listeners)
    run = _Run("deploy", request.namespace, request.release, options, log, store)
    report: Report | None = None
    values: UpgradeValues | None = None
    try:
        kube = await run.connect()
        if rendered is None:
            from helmguard.chart.values import merge_user_values

            # Helm's upgrade values from the release as it stands (checked again under
            # the Lease: the revision number and pending state are decided there).
            peek = Cluster(kube, deadline=run.started + options.timeout)
            history = await read_history(
                peek, request.namespace, request.release, kind=record_kind(options.driver)
            )
            values = upgrade_values(
                merge_user_values(request.values), current_release(history), options.values_mode
            )
            request = replace(request, user_values=values.render)
            # Rendered once, here: the preflight gate checks exactly what gets applied.
            served = await retry(kube.discovery.resources, timeout=options.timeout)
            version = await retry(kube.version, timeout=options.timeout)
            rendered = render_chart(with_capabilities(request, capabilities_from(version, served)))
        if options.force:
            log.emit(
                "preflight.skipped",
                "WARNING: --force: preflight checks skipped; the cluster may accept objects "
                "that can never run",
                level="warning",
            )
        else:
            report = await check_cluster(
                request,
                kube=kube,
                timeout=min(60.0, options.timeout),
                rendered=rendered,
                create_namespace=options.create_namespace,
            )
            refused = _preflight_verdict(report, log, Severity.ERROR)
            if refused is not None:
                return Result(
                    "deploy",
                    request.release,
                    request.namespace,
                    0,
                    "refused",
                    refused[0],
                    refused[1],
                    report=report,
                    log=tuple(log.records),
                    seconds=time.monotonic() - run.started,
                )
        if options.create_namespace:
            await _create_namespace(run, request.namespace)
        await run.open()
        operation = "upgrade" if any(h.outcome == "deployed" for h in run.history) else "install"
        return await _apply_revision(
            run,
            objects=rendered.objects,
            crds=() if options.skip_crds else rendered.crds,
            hooks=rendered.hooks,
            chart=rendered.chart_name,
            chart_version=rendered.chart_version,
            digest=_values_digest(rendered.values),
            operation=operation,
            base=_helm_base(rendered, values),
            report=report,
        )
    finally:
        await asyncio.shield(run.close())


async def rollback(
    namespace: str,
    name: str,
    revision: int | None = None,
    options: DeployOptions = DeployOptions(),
    *,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Re-apply a stored revision (default: the last deployed before the latest) as a new one."""
    log = OperationLog(listeners)
    run = _Run("rollback", namespace, name, options, log, store)
    try:
        await run.open()
        if not run.history:
            raise KubeError(
                f"release {namespace}/{name} has no stored revisions on the cluster.",
                fix="Check the release name and namespace (helmguard keeps revisions as Secrets "
                "in the release namespace).",
            )
        latest = run.history[-1]
        if revision is None:
            candidates = [
                h for h in run.history if h.outcome == "deployed" and h.revision < latest.revision
            ]
            if not candidates:
                raise KubeError(
                    f"release {namespace}/{name} has no deployed revision before "
                    f"{latest.revision}.",
                    fix="Name a revision explicitly: helmguard rollback RELEASE REVISION.",
                )
            target = candidates[-1]
        else:
            found = [h for h in run.history if h.revision == revision]
            if not found:
                known = ", ".join(str(h.revision) for h in run.history)
                raise KubeError(
                    f"release {namespace}/{name} has no revision {revision} (stored: {known}).",
                    fix="Pick one of the stored revisions.",
                )
            target = found[0]
        log.emit("rollback.target", f"rolling back to revision {target.revision}")
        return await _apply_revision(
            run,
            objects=target.objects,
            crds=target.crds,
            hooks=_stored_hooks(target),
            chart=target.chart,
            chart_version=target.chart_version,
            digest=target.values_digest,
            operation="rollback",
            base=_helm_base_of(target),
            rollback_to=target.revision,
        )
    finally:
        await asyncio.shield(run.close())


async def uninstall(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Delete every object the release applied, in reverse order, and wait until they are gone."""
    log = OperationLog(listeners)
    run = _Run("uninstall", namespace, name, options, log, store)
    try:
        cluster = await run.open()
        latest = run.latest()
        inventory: set[ObjectRef] = set()
        for h in run.history:
            inventory.update(h.inventory)
        bodies = {o.ref: o for h in run.history for o in h.objects}
        the_plan = build_plan(
            [bodies[r] for r in sorted(inventory) if r in bodies],
            hooks=_stored_hooks(latest),
            operation="delete",
        )
        await run.begin(
            latest.chart,
            latest.chart_version,
            latest.values_digest,
            the_plan,
            _inventory(the_plan.objects, {a.ref: a for a in latest.applied}),
        )
        engine = Engine(cluster, log, namespace, name, run.revision)
        outcome, message = "uninstalled", ""
        deleted: list[ObjectRef] = []
        # As Helm's uninstall: the latest record says so while objects are deleted.
        kind = run.record_kind
        latest = with_status(latest, "uninstalling", description="Deletion in progress")
        await _write_record(cluster, latest, log, kind)
        try:
            await engine.run_hooks(the_plan.pre_hooks, "pre-delete")
            deleted = await engine.delete_in_order(the_plan)
            unplanned = sorted(r for r in inventory if r not in bodies)
            deleted += await engine.delete_and_wait(unplanned, only_owned=True)
            # Records go last, so an uninstall stuck on a finalizer can be run again.
            if options.keep_history:
                done = with_status(
                    latest,
                    "uninstalled",
                    outcome="uninstalled",
                    description=options.description or "Uninstallation complete",
                    at=datetime.now(UTC),
                )
                await _write_record(cluster, done, log, kind)
            else:
                for h in run.history:
                    await cluster.delete(
                        ObjectRef("", kind, namespace, record_name(name, h.revision))
                    )
            await engine.run_hooks(the_plan.post_hooks, "post-delete")
            message = f"release {namespace}/{name} uninstalled: {len(deleted)} object(s) deleted"
        except DeployFailed as exc:
            outcome, message = "failed", exc.message
        log.emit("verdict", message, level="info" if outcome == "uninstalled" else "error")
        if run.store is not None:
            left = [o for o in the_plan.objects if o.ref not in set(deleted)]
            await run.finish(
                outcome,
                outcome,
                latest.chart,
                latest.chart_version,
                _inventory(left, {a.ref: a for a in latest.applied}),
            )
            if outcome == "uninstalled" and not options.keep_history:
                await run.store.delete_release(run.key)
        return Result(
            "uninstall",
            name,
            namespace,
            run.revision,
            outcome,
            message,
            deleted=tuple(deleted),
            log=tuple(log.records),
            seconds=time.monotonic() - run.started,
        )
    finally:
        await asyncio.shield(run.close())


async def release_test(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Run the release's test hooks (`helm.sh/hook: test`) as `helm test` does.

    The hooks come from the latest stored revision and run in Helm's hook order with
    their delete policies; the outcome is `passed`, or `failed` naming the first test
    that failed and why (the Job's condition and its pods' reasons).
    """
    log = OperationLog(listeners)
    run = _Run("test", namespace, name, options, log, None)
    try:
        cluster = await run.open()
        latest = run.latest()
        steps = hook_steps(_stored_hooks(latest), "test")
        engine = Engine(cluster, log, namespace, name, latest.revision)
        outcome, message, root = "passed", "", None
        try:
            await engine.run_hooks(steps, "test")
            message = (
                f"revision {latest.revision}: {len(steps)} test(s) passed"
                if steps
                else f"revision {latest.revision} has no test hooks"
            )
        except DeployFailed as exc:
            outcome, message = "failed", exc.message
            if exc.verdict is not None:
                root = exc.verdict.root_cause
        log.emit(
            "verdict",
            message,
            level="info" if outcome == "passed" else "error",
            outcome=outcome,
            rootCause=str(root) if root else None,
        )
        return Result(
            "test",
            name,
            namespace,
            latest.revision,
            outcome,
            message,
            root,
            log=tuple(log.records),
            seconds=time.monotonic() - run.started,
        )
    finally:
        await asyncio.shield(run.close())


async def settle(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    store: Store | StoreOpener | None = None,
    kube: Kube | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Finish what a dead process left on the release, under its Lease, and let go.

    The same steps every deploy, rollback and uninstall takes once it holds the Lease:
    a pending record helmguard wrote becomes failed (outcome `interrupted`) listing the
    objects that carry its revision, a stored revision left running becomes
    `interrupted` with them, and a Lease whose holder died is taken over and released.
    Outcome `interrupted` when something was marked, `clean` otherwise; raises
    ReleaseLocked while a live process holds the release, ReleaseBusy while helm writes it.
    """
    log = OperationLog(listeners)
    run = _Run(
        "settle", namespace, name, options, log, store, kube=kube, keep_kube=kube is not None
    )
    try:
        await run.open()
        marked = sorted(run.interrupted)
        applied = {a.ref: a for n in marked for a in run.interrupted[n]}
        message = (
            f"release {namespace}/{name}: revision(s) "
            + ", ".join(str(n) for n in marked)
            + f" marked interrupted; {len(applied)} object(s) had been applied"
            if marked
            else f"release {namespace}/{name}: nothing left unfinished"
        )
        return Result(
            "settle",
            name,
            namespace,
            marked[-1] if marked else 0,
            "interrupted" if marked else "clean",
            message,
            applied=tuple(applied.values()),
            log=tuple(log.records),
            seconds=time.monotonic() - run.started,
        )
    finally:
        await asyncio.shield(run.close())
