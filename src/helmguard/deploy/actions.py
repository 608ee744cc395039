"""The library actions the CLI and the HTTP API call: plan, deploy, rollback, uninstall.

Each action takes plain options, returns a frozen result, and reports progress through
an `OperationLog` (listeners get every step live). Nothing is recorded as applied unless
the API server answered with the object; a revision that stops half way says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.lock import LOCK_NAMESPACE, ReleaseLock, acquire
from helmguard.deploy.observe import Verdict
from helmguard.deploy.oplog import Listener, LogRecord, OperationLog
from helmguard.deploy.release import (
    MANAGED_BY,
    RECORD_NAME_LABEL,
    RECORD_OWNER_LABEL,
    Applied,
    RevisionManifest,
    decode_record,
    encode_record,
    hook_json,
    record_name,
)
from helmguard.graph.order import Plan, build_plan, plan_to_dict
from helmguard.kube.client import Kube, connect
from helmguard.kube.errors import KubeError, retry
from helmguard.manifest import K8sObject, ObjectRef

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart, RenderRequest
    from helmguard.preflight.report import Report
    from helmguard.store import ReleaseKey, Store

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


@dataclass(frozen=True)
class Result:
    """What an operation did, in words and as data."""

    operation: str
    release: str
    namespace: str
    revision: int
    outcome: str  # deployed, failed, refused, interrupted, rolled-back, uninstalled
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
        return self.outcome in ("deployed", "uninstalled")


def plan(rendered: RenderedChart, *, operation: str = "install") -> Plan:
    """The waves and hooks `deploy` would execute for a rendered chart."""
    return build_plan(
        rendered.objects, hooks=rendered.hooks, crds=rendered.crds, operation=operation
    )


# ---- release records on the cluster ---------------------------------------------------------


async def read_history(cluster: Cluster, namespace: str, name: str) -> list[RevisionManifest]:
    """Every stored revision of the release, oldest first ([] when the namespace is empty)."""
    items = await cluster.list(
        "",
        "Secret",
        namespace,
        label_selector=f"{RECORD_OWNER_LABEL}={MANAGED_BY},{RECORD_NAME_LABEL}={name}",
    )
    out = []
    for item in items:
        with contextlib.suppress(ValueError):
            out.append(decode_record(item))
    return sorted(out, key=lambda r: r.revision)


async def _write_record(cluster: Cluster, rev: RevisionManifest, log: OperationLog) -> None:
    secret = encode_record(rev)
    try:
        await cluster.apply(secret, force=True)
    except KubeError as err:
        log.emit(
            "record.failed",
            f"could not store revision {rev.revision} as Secret "
            f"{record_name(rev.release, rev.revision)}: {err.message}",
            level="warning",
        )


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
        self.history = await read_history(self.cluster, self.namespace, self.name)
        stored = 0
        await self.open_store()
        if self.store is not None:
            revisions = await self.store.list_revisions(self.key)
            stored = max((r.number for r in revisions), default=0)
            for r in revisions:
                if r.outcome in ("pending", "running"):
                    # We hold the Lease, so whoever left it running is gone.
                    await self.store.finish_revision(self.key, r.number, "interrupted")
                    self.log.emit(
                        "revision.stale",
                        f"revision {r.number} was left {r.outcome} by a process that died; "
                        "marked interrupted",
                        level="warning",
                    )
        self.revision = max([stored, *(h.revision for h in self.history)], default=0) + 1
        return self.cluster

    async def close(self) -> None:
        if self.lock is not None:
            await self.lock.release()
        if self.kube is not None:
            await self.kube.aclose()

    async def begin(self, chart: str, version: str, digest: str, the_plan: Plan | None) -> None:
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
            )
        )
        self.log.bind(self.store, self.key, self.revision)
        await self.log.sync()

    async def finish(self, outcome: str, status: str, chart: str, version: str) -> None:
        if self.store is None:
            return
        from helmguard.store import ReleaseRecord

        await self.log.sync()
        await self.store.finish_revision(self.key, self.revision, outcome)
        await self.store.record_release(
            ReleaseRecord(self.key, chart, version, self.revision, status)
        )
        await self.store.flush()


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
    report: Report | None = None,
) -> Result:
    """Apply a set of objects as a new revision; prune what the previous one had extra."""
    assert run.cluster is not None
    cluster = run.cluster
    the_plan = build_plan(objects, hooks=hooks, crds=crds, operation=operation)
    for cycle in the_plan.cycles:
        run.log.emit("plan.cycle", cycle.describe(), level="warning")
    await run.begin(chart, chart_version, digest, the_plan)
    previous = run.history[-1] if run.history else None
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
        return RevisionManifest(
            run.name,
            run.namespace,
            run.revision,
            chart,
            chart_version,
            digest,
            outcome_now,
            tuple(objects),
            tuple(crds),
            hook_json(hooks),
            tuple(engine.applied.values()),
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
        await asyncio.shield(_write_record(cluster, record("interrupted"), run.log))
        await asyncio.shield(run.finish("interrupted", "interrupted", chart, chart_version))
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
    await _write_record(cluster, record(outcome), run.log)
    run.history.append(record(outcome))
    rollback_result: Result | None = None
    if failure is not None and run.options.atomic:
        rollback_result = await _atomic_restore(run, engine, previous)
        outcome = "rolled-back" if rollback_result.ok else "failed"
    await run.finish(
        outcome if outcome != "rolled-back" else "failed",
        "deployed" if outcome == "deployed" else outcome,
        chart,
        chart_version,
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
        the_plan = build_plan(
            [o for o in run.history[-1].objects if o.ref in failed.applied], operation="delete"
        )
        try:
            deleted = await failed.delete_in_order(the_plan)
        except DeployFailed as exc:
            return Result("rollback", run.name, run.namespace, run.revision, "failed", exc.message)
        run.log.emit("atomic.done", f"deleted {len(deleted)} object(s)")
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
    try:
        kube = await run.connect()
        if rendered is None:
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
                request, kube=kube, timeout=min(60.0, options.timeout), rendered=rendered
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
        await run.open()
        operation = "upgrade" if any(h.outcome == "deployed" for h in run.history) else "install"
        return await _apply_revision(
            run,
            objects=rendered.objects,
            crds=rendered.crds,
            hooks=rendered.hooks,
            chart=rendered.chart_name,
            chart_version=rendered.chart_version,
            digest=_values_digest(rendered.values),
            operation=operation,
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
        if not run.history:
            raise KubeError(
                f"release {namespace}/{name} not found: no stored revisions in namespace "
                f"{namespace}.",
                fix="Check the release name and namespace.",
            )
        latest = run.history[-1]
        inventory: set[ObjectRef] = set()
        for h in run.history:
            inventory.update(h.inventory)
        bodies = {o.ref: o for h in run.history for o in h.objects}
        the_plan = build_plan(
            [bodies[r] for r in sorted(inventory) if r in bodies],
            hooks=_stored_hooks(latest),
            operation="delete",
        )
        await run.begin(latest.chart, latest.chart_version, latest.values_digest, the_plan)
        engine = Engine(cluster, log, namespace, name, run.revision)
        outcome, message = "uninstalled", ""
        deleted: list[ObjectRef] = []
        try:
            await engine.run_hooks(the_plan.pre_hooks, "pre-delete")
            deleted = await engine.delete_in_order(the_plan)
            unplanned = sorted(r for r in inventory if r not in bodies)
            deleted += await engine.delete_and_wait(unplanned, only_owned=True)
            # Records go last, so an uninstall stuck on a finalizer can be run again.
            if not options.keep_history:
                for h in run.history:
                    await cluster.delete(
                        ObjectRef("", "Secret", namespace, record_name(name, h.revision))
                    )
            await engine.run_hooks(the_plan.post_hooks, "post-delete")
            message = f"release {namespace}/{name} uninstalled: {len(deleted)} object(s) deleted"
        except DeployFailed as exc:
            outcome, message = "failed", exc.message
        log.emit("verdict", message, level="info" if outcome == "uninstalled" else "error")
        if run.store is not None:
            await run.finish(outcome, outcome, latest.chart, latest.chart_version)
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
