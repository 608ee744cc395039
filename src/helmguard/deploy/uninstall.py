"""`uninstall`: delete what the release applied in reverse order, as `helm uninstall` does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.history import read_history, write_record
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.release import record_name, with_status
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run, inventory_items, stored_hooks
from helmguard.graph.order import Plan, build_plan
from helmguard.kube.errors import KubeError
from helmguard.manifest import K8sObject, ObjectRef

if TYPE_CHECKING:
    from helmguard.store import Store

# helm uninstall --cascade: the deletes' propagationPolicy.
CASCADES = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}


@dataclass(frozen=True)
class UninstallOptions:
    """helm uninstall's own flags (DeployOptions has the shared ones: --keep-history,
    --no-hooks, --description, --timeout, and `wait`: whether deletions are waited for)."""

    cascade: str = "background"  # a CASCADES key
    dry_run: bool = False  # report what would be deleted; change nothing
    ignore_not_found: bool = False  # a release with no record is not an error

    def __post_init__(self) -> None:
        if self.cascade not in CASCADES:
            raise ValueError(
                f'invalid cascade value ({self.cascade}). Must be "background", "foreground", '
                'or "orphan"'
            )


async def uninstall(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    how: UninstallOptions = UninstallOptions(),
    config: Configuration | None = None,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Delete every object the release applied, in reverse order, and wait until they are gone
    (unless `options.wait` is off)."""
    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("uninstall", namespace, name, options, cfg, log)
    try:
        if how.dry_run:
            return await _dry_run(run, how)
        cluster = await run.open()
        if not run.history and not options.keep_history and await _forget_stored(run):
            return _ended(
                run,
                f"release {namespace}/{name} has nothing on the cluster (no release record): "
                "its stored history was forgotten",
            )
        if not run.history and how.ignore_not_found:
            return _ended(run, _not_found(run))
        latest = run.latest()
        if latest.status == "uninstalled":
            return await _purge_uninstalled(run)
        # As Helm's: an uninstall is of the latest revision, not a new one (with
        # --keep-history its record is marked uninstalled; the next install is N+1).
        run.revision = latest.revision
        inventory, bodies, the_plan = _uninstall_plan(run)
        await run.begin(
            latest.chart,
            latest.chart_version,
            latest.values_digest,
            the_plan,
            inventory_items(the_plan.objects, {a.ref: a for a in latest.applied}),
        )
        engine = Engine(cluster, log, namespace, name, run.revision)
        outcome, message = Outcome.UNINSTALLED, ""
        deleted: list[ObjectRef] = []
        # As Helm's uninstall: the latest record says so while objects are deleted.
        kind = run.record_kind
        latest = with_status(
            latest, "uninstalling", description="Deletion in progress (or silently failed)"
        )
        await write_record(cluster, latest, log, kind)
        propagation = CASCADES[how.cascade]
        try:
            await engine.run_hooks(the_plan.pre_hooks, "pre-delete")
            deleted = await engine.delete_in_order(
                the_plan, propagation=propagation, wait=options.wait
            )
            unplanned = sorted(r for r in inventory if r not in bodies)
            deleted += await engine.delete_and_wait(
                unplanned, only_owned=True, propagation=propagation, wait=options.wait
            )
            # Records go last, so an uninstall stuck on a finalizer can be run again.
            if options.keep_history:
                done = with_status(
                    latest,
                    "uninstalled",
                    outcome=Outcome.UNINSTALLED,
                    description=options.description or "Uninstallation complete",
                    at=run.config.now(),
                )
                await write_record(cluster, done, log, kind)
            else:
                for h in run.history:
                    await cluster.delete(
                        ObjectRef("", kind, namespace, record_name(name, h.revision))
                    )
            await engine.run_hooks(the_plan.post_hooks, "post-delete")
            message = f"release {namespace}/{name} uninstalled: {len(deleted)} object(s) deleted"
            if not options.wait:
                message += " (deletion requested, not waited for)"
        except DeployFailed as exc:
            outcome, message = Outcome.FAILED, exc.message
        log.emit(Step.VERDICT, message, level="info" if outcome == Outcome.UNINSTALLED else "error")
        if run.store is not None:
            left = [o for o in the_plan.objects if o.ref not in set(deleted)]
            await run.finish(
                outcome,
                outcome,
                latest.chart,
                latest.chart_version,
                inventory_items(left, {a.ref: a for a in latest.applied}),
            )
            if outcome == Outcome.UNINSTALLED and not options.keep_history:
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


def _uninstall_plan(run: Run) -> tuple[set[ObjectRef], dict[ObjectRef, K8sObject], Plan]:
    """What every revision applied, the bodies known of it, and the plan deleting them (with
    the latest revision's delete hooks, none with --no-hooks)."""
    inventory: set[ObjectRef] = set()
    for h in run.history:
        inventory.update(h.inventory)
    bodies = {o.ref: o for h in run.history for o in h.objects}
    the_plan = build_plan(
        [bodies[r] for r in sorted(inventory) if r in bodies],
        hooks=() if run.options.no_hooks else stored_hooks(run.latest()),
        operation="delete",
    )
    return inventory, bodies, the_plan


async def _dry_run(run: Run, how: UninstallOptions) -> Result:
    """helm uninstall --dry-run: what would be deleted (what exists and is the release's) and
    which hooks would run; no Lease, no record, no store written."""
    cluster = await run.new_cluster()
    run.history = await read_history(cluster, run.namespace, run.name, kind=run.record_kind)
    if not run.history and how.ignore_not_found:
        return _ended(run, _not_found(run))
    run.revision = run.latest().revision
    inventory, _, the_plan = _uninstall_plan(run)
    engine = Engine(cluster, run.log, run.namespace, run.name, run.revision)
    chart_crds = set(the_plan.chart_crds)
    doomed = await engine.owned(sorted(r for r in inventory if r not in chart_crds))
    hooks = [f"{s.obj.ref} ({s.event})" for s in (*the_plan.pre_hooks, *the_plan.post_hooks)]
    lines = [f"dry run: release {run.namespace}/{run.name} would be uninstalled; nothing changed"]
    lines += [f"  would delete {ref}" for ref in doomed]
    lines += [f"  would run hook {hook}" for hook in hooks]
    return _ended(run, "\n".join(lines), Outcome.DRY_RUN)


async def _purge_uninstalled(run: Run) -> Result:
    """As Helm's uninstall of a release already uninstalled with --keep-history: its records
    are removed (no hook runs, nothing else is deleted); with --keep-history again, an error."""
    if run.options.keep_history:
        raise KubeError(
            f'the release named "{run.name}" is already deleted (its records are kept)',
            fix="Uninstall it without --keep-history to remove its records.",
        )
    assert run.cluster is not None
    for h in run.history:
        await run.cluster.delete(
            ObjectRef("", run.record_kind, run.namespace, record_name(run.name, h.revision))
        )
    if run.store is not None:
        await run.store.delete_release(run.key)
    return _ended(
        run,
        f"release {run.namespace}/{run.name} was already uninstalled: its records were removed",
    )


def _not_found(run: Run) -> str:
    return (
        f"release {run.namespace}/{run.name} not found: nothing to uninstall (--ignore-not-found)"
    )


def _ended(run: Run, message: str, outcome: str = Outcome.UNINSTALLED) -> Result:
    """An uninstall that deleted nothing: its verdict logged, its result."""
    run.log.emit(Step.VERDICT, message)
    return Result(
        "uninstall",
        run.name,
        run.namespace,
        0,
        outcome,
        message,
        log=tuple(run.log.records),
        seconds=time.monotonic() - run.started,
    )


async def _forget_stored(run: Run) -> bool:
    """Forget a release only the store knows (an --atomic first install that failed, one
    uninstalled with --keep-history and whose records are gone); False if it has none."""
    return run.store is not None and await run.store.delete_release(run.key)
