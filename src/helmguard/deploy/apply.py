"""The executor every action shares: apply a revision as Helm records it, restore on failure.

`apply_revision` writes the revision's record pending before the first object, runs the
hooks and waves, prunes what the previous revision had extra, waits, and records the
outcome; with `atomic`, a failure is undone (`_atomic_restore`).

One file past 400 lines: the apply and its undo share the run's record of what was
applied and written, which neither may see half of.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.history import write_record
from helmguard.deploy.labels import merged_labels
from helmguard.deploy.observe import Verdict
from helmguard.deploy.oplog import Step
from helmguard.deploy.release import (
    RevisionManifest,
    go_time,
    helm_hooks,
    helm_release,
    hook_json,
    least_recent,
    record_name,
    with_hook_runs,
    with_status,
)
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run, inventory_items, stored_hooks
from helmguard.deploy.values import current_release
from helmguard.deploy.watch import ReleaseWatch
from helmguard.graph.order import build_plan
from helmguard.kube.errors import KubeError
from helmguard.manifest import K8sObject, ObjectRef

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart
    from helmguard.deploy.values import UpgradeValues
    from helmguard.preflight.report import Report

_PENDING = {
    "install": ("pending-install", "Initial install underway"),
    "upgrade": ("pending-upgrade", "Preparing upgrade"),
    "rollback": ("pending-rollback", ""),
}
_DONE = {"install": "Install complete", "upgrade": "Upgrade complete"}
_FAILED = {"install": "Release", "upgrade": "Upgrade", "rollback": "Rollback"}


def helm_base(rendered: RenderedChart, values: UpgradeValues | None = None) -> dict[str, Any]:
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


def helm_base_of(rev: RevisionManifest) -> dict[str, Any]:
    """The same, from a stored revision (rollback re-applies what it stored, as Helm does)."""
    return {
        "chart": rev.helm.get("chart") or {},
        "config": dict(rev.config),
        "manifest": rev.manifest,
        "hooks": list(rev.helm.get("hooks") or ()),
        "notes": rev.notes,
    }


async def apply_revision(
    run: Run,
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
        run.log.emit(Step.PLAN_CYCLE, cycle.describe(), level="warning")
    previous = run.history[-1] if run.history else None
    deployed = [h for h in run.history if h.status == "deployed"]
    now = go_time(run.config.now())
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
        labels=_record_labels(run, operation, previous, rollback_to),
    )
    if operation == "install" and previous is not None and previous.status == "uninstalled":
        # Helm's install replacing an uninstalled release (replaceRelease): superseded first.
        run.history[-1] = with_status(
            previous, "superseded", description="superseded by new release"
        )
        await write_record(cluster, run.history[-1], run.log, run.record_kind)
    if run.options.history_max > 0:
        # Helm's --history-max: room for this revision, the last deployed one always kept.
        old = least_recent(run.history, run.options.history_max - 1)
        for h in old:
            await cluster.delete(
                ObjectRef("", run.record_kind, run.namespace, record_name(run.name, h.revision))
            )
        if old:
            run.log.emit(
                Step.RECORD_PRUNED,
                f"--history-max {run.options.history_max}: removed the records of revision(s) "
                + ", ".join(str(h.revision) for h in old),
            )
            dropped = {h.revision for h in old}
            run.history = [h for h in run.history if h.revision not in dropped]
    # Before the first object is applied: helm sees the release busy from here on.
    await write_record(cluster, pending, run.log, run.record_kind, new=True)
    await run.begin(chart, chart_version, digest, the_plan, inventory_items(the_plan.objects, {}))
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
        Step.PLAN,
        f"revision {run.revision}: {len(the_plan.objects)} objects in {len(the_plan.waves)} waves",
        waves=len(the_plan.waves),
        objects=len(the_plan.objects),
    )
    outcome, message, root, error_class = Outcome.DEPLOYED, "", None, ""
    pruned: list[ObjectRef] = []
    failure: DeployFailed | None = None

    def record(outcome_now: str) -> RevisionManifest:
        # A failed revision still lists what it applied: uninstall and prune must find it.
        ok = outcome_now == Outcome.DEPLOYED
        text = done_text if ok else f'{_FAILED[operation]} "{run.name}" failed: {message}'
        return with_hook_runs(
            with_status(
                replace(pending, applied=tuple(engine.applied.values())),
                "deployed" if ok else "failed",
                outcome=outcome_now,
                description=text,
            ),
            engine.hook_runs,
        )

    refs = [o.ref for o in the_plan.objects]
    # The wait's informers list and watch while the waves apply: the wait starts informed.
    watch = ReleaseWatch(engine.cluster, refs) if run.options.wait else None
    updating = False  # between Helm's KubeClient.Update and its end: applying and pruning
    try:
        if watch is not None:
            await watch.start()
        if not run.options.no_hooks:
            await engine.run_hooks(the_plan.pre_hooks, f"pre-{operation}")
        updating = True
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
                    Step.PRUNE,
                    f"pruned {len(pruned)} object(s) of revision {previous.revision}",
                    objects=[str(r) for r in pruned],
                )
        updating = False
        if run.options.wait:
            run.log.emit(Step.WAIT_START, f"waiting for {len(the_plan.objects)} resources")
            if watch is not None:
                watch.expect({r: a.resource_version for r, a in engine.applied.items()})
            verdict: Verdict = await engine.wait_ready(refs, watch=watch)
            if not verdict.ready:
                raise DeployFailed(verdict.message, verdict=verdict)
            run.log.emit(Step.WAIT_READY, verdict.message)
        if not run.options.no_hooks:
            await engine.run_hooks(the_plan.post_hooks, f"post-{operation}")
        message = f"revision {run.revision} deployed: {len(engine.applied)} objects applied"
    except DeployFailed as exc:
        failure = exc
        outcome, message = Outcome.FAILED, exc.message
        if exc.error is not None:
            error_class = type(exc.error).__name__
        if exc.verdict is not None:
            root = exc.verdict.root_cause
    except KubeError as exc:
        failure = DeployFailed(exc.explain(), error=exc)
        outcome, message, error_class = Outcome.FAILED, exc.explain(), type(exc).__name__
    except asyncio.CancelledError:
        names = ", ".join(str(r) for r in engine.applied)
        run.log.emit(
            Step.INTERRUPTED,
            f"interrupted; {len(engine.applied)} object(s) were applied"
            + (f": {names}" if names else ""),
            level="error",
            applied=[a.to_json() for a in engine.applied.values()],
        )
        message = "interrupted"
        run.cleanup_budget()
        await asyncio.shield(
            write_record(cluster, record(Outcome.INTERRUPTED), run.log, run.record_kind)
        )
        await asyncio.shield(
            run.finish(
                Outcome.INTERRUPTED,
                "interrupted",
                chart,
                chart_version,
                inventory_items(the_plan.objects, engine.applied),
            )
        )
        raise
    finally:
        if watch is not None:
            await asyncio.shield(watch.stop())
    level = "info" if failure is None else "error"
    run.log.emit(
        Step.VERDICT,
        message,
        level=level,
        outcome=outcome,
        rootCause=str(root) if root else None,
        errorClass=error_class or None,
    )
    run.cleanup_budget()
    final = record(outcome)
    if failure is None:
        # Helm's upgrade and rollback: what was deployed is superseded by this revision (an
        # upgrade over no deployed revision supersedes the one it started from, as helm's).
        replaced = {h.revision for h in run.history if h.status == "deployed"}
        start = current_release(run.history) if operation == "upgrade" else None
        if not replaced and start is not None:
            replaced = {start.revision}
        for i, h in enumerate(run.history):
            if h.revision in replaced and h.status != "superseded":
                run.history[i] = with_status(h, "superseded")
                await write_record(cluster, run.history[i], run.log, run.record_kind)
    elif operation == "rollback" and updating and previous is not None:
        # Helm's performRollback: once objects were being changed, the latest revision no
        # longer describes the cluster; it is superseded even though the rollback failed.
        for i, h in enumerate(run.history):
            if h.revision == previous.revision:
                run.history[i] = with_status(h, "superseded")
                await write_record(cluster, run.history[i], run.log, run.record_kind)
    await write_record(cluster, final, run.log, run.record_kind)
    run.history.append(final)
    cleaned: list[ObjectRef] = []
    # helm's --cleanup-on-fail: an upgrade's failure, or a rollback's while objects were
    # being changed (helm's performRollback cleans up only when its Update fails).
    cleans = operation == "upgrade" or (operation == "rollback" and updating)
    if failure is not None and run.options.cleanup_on_fail and cleans:
        cleaned, trouble = await _cleanup_created(run, engine, the_plan.objects, operation)
        message += trouble
    rollback_result: Result | None = None
    if failure is not None and run.options.atomic:
        rollback_result = await _atomic_restore(run, engine, previous)
        outcome = Outcome.ROLLED_BACK if rollback_result.ok else Outcome.FAILED
    # A first install --atomic deleted is uninstalled, as Helm's: nothing of it is left.
    removed = rollback_result is not None and rollback_result.outcome == Outcome.UNINSTALLED
    await run.finish(
        outcome if outcome != Outcome.ROLLED_BACK else Outcome.FAILED,
        Outcome.UNINSTALLED if removed else "deployed" if outcome == "deployed" else outcome,
        chart,
        chart_version,
        [] if removed else inventory_items(the_plan.objects, engine.applied),
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
        tuple(cleaned),
        report,
        rollback_result,
        tuple(run.log.records),
        time.monotonic() - run.started,
        error_class,
    )


def _record_labels(
    run: Run, operation: str, previous: RevisionManifest | None, rollback_to: int
) -> dict[str, str]:
    """The new record's custom labels, as Helm's: a rollback's are its target's; an install's
    (nothing before, or uninstalled) the given ones; an upgrade merges them over the last."""
    if operation == "rollback":
        target = next((h for h in run.history if h.revision == rollback_to), previous)
        return dict(target.labels) if target is not None else {}
    if previous is None or previous.status == "uninstalled":
        return dict(run.options.labels)
    return merged_labels(previous.labels, run.options.labels)


async def _cleanup_created(
    run: Run, engine: Engine, objects: Sequence[K8sObject], operation: str
) -> tuple[list[ObjectRef], str]:
    """Helm's --cleanup-on-fail: delete the chart's objects this upgrade (or rollback) created
    (not the ones it changed, nor hooks or crds/); what was deleted, and what went wrong."""
    templates = {o.ref for o in objects}
    created = [r for r, a in engine.applied.items() if a.created and r in templates]
    if not created:
        return [], ""
    try:
        deleted = await engine.delete_and_wait(created)
    except (DeployFailed, KubeError) as exc:
        text = exc.message if isinstance(exc, DeployFailed) else exc.explain()
        run.log.emit(Step.CLEANUP, f"--cleanup-on-fail: {text}", level="error")
        return [], f"\nunable to clean up the objects it created: {text}"
    run.log.emit(
        Step.CLEANUP,
        f"--cleanup-on-fail: deleted {len(deleted)} object(s) this {operation} created",
        objects=[str(r) for r in deleted],
    )
    return deleted, ""


async def reapply(run: Run, target: RevisionManifest) -> Result:
    """Apply a stored revision again as a new one: a rollback, or an atomic restore."""
    return await apply_revision(
        run,
        objects=target.objects,
        crds=target.crds,
        hooks=stored_hooks(target),
        chart=target.chart,
        chart_version=target.chart_version,
        digest=target.values_digest,
        operation="rollback",
        base=helm_base_of(target),
        rollback_to=target.revision,
    )


async def _atomic_restore(run: Run, failed: Engine, previous: RevisionManifest | None) -> Result:
    """Undo a failed revision: re-apply the previous one, or delete all of a first install."""
    assert run.cluster is not None
    # The rollback gets its own time budget: the failure may have used all of the first.
    run.cluster.deadline = time.monotonic() + run.options.timeout
    if previous is None or previous.outcome != Outcome.DEPLOYED:
        run.log.emit(Step.ATOMIC_START, "first install failed: deleting everything it applied")
        # As Helm's uninstall on failure: with the failed revision's delete hooks around it.
        the_plan = build_plan(
            [o for o in run.history[-1].objects if o.ref in failed.applied],
            hooks=() if run.options.no_hooks else stored_hooks(run.history[-1]),
            operation="delete",
        )
        try:
            await failed.run_hooks(the_plan.pre_hooks, "pre-delete")
            deleted = await failed.delete_in_order(the_plan)
            await failed.run_hooks(the_plan.post_hooks, "post-delete")
        except DeployFailed as exc:
            return Result(
                "rollback", run.name, run.namespace, run.revision, Outcome.FAILED, exc.message
            )
        # Helm's atomic install uninstalls: the release's records go too (the store keeps them).
        for h in run.history:
            await run.cluster.delete(
                ObjectRef("", run.record_kind, run.namespace, record_name(run.name, h.revision))
            )
        run.log.emit(Step.ATOMIC_DONE, f"deleted {len(deleted)} object(s) and the release records")
        return Result(
            "rollback",
            run.name,
            run.namespace,
            run.revision,
            Outcome.UNINSTALLED,
            f"first install removed: {len(deleted)} object(s) deleted",
            deleted=tuple(deleted),
        )
    run.log.emit(Step.ATOMIC_START, f"restoring revision {previous.revision}")
    sub = Run(
        "rollback",
        run.namespace,
        run.name,
        replace(run.options, atomic=False),
        run.config,
        run.log,
        run.kube,
        run.cluster,
        run.lock,
        list(run.history),
        run.revision + 1,
        store=run.store,
    )
    result = await reapply(sub, previous)
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
