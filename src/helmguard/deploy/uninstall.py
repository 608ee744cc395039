"""`uninstall`: delete what the release applied in reverse order, as `helm uninstall` does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.history import write_record
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.release import record_name, with_status
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run, inventory_items, stored_hooks
from helmguard.graph.order import build_plan
from helmguard.manifest import ObjectRef

if TYPE_CHECKING:
    from helmguard.store import Store


async def uninstall(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    config: Configuration | None = None,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Delete every object the release applied, in reverse order, and wait until they are gone."""
    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("uninstall", namespace, name, options, cfg, log)
    try:
        cluster = await run.open()
        if not run.history and not options.keep_history and await _forget_stored(run):
            message = (
                f"release {namespace}/{name} has nothing on the cluster (no release record): "
                "its stored history was forgotten"
            )
            log.emit(Step.VERDICT, message)
            return Result(
                "uninstall",
                name,
                namespace,
                0,
                Outcome.UNINSTALLED,
                message,
                log=tuple(log.records),
                seconds=time.monotonic() - run.started,
            )
        latest = run.latest()
        # As Helm's: an uninstall is of the latest revision, not a new one (with
        # --keep-history its record is marked uninstalled; the next install is N+1).
        run.revision = latest.revision
        inventory: set[ObjectRef] = set()
        for h in run.history:
            inventory.update(h.inventory)
        bodies = {o.ref: o for h in run.history for o in h.objects}
        the_plan = build_plan(
            [bodies[r] for r in sorted(inventory) if r in bodies],
            hooks=stored_hooks(latest),
            operation="delete",
        )
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
        latest = with_status(latest, "uninstalling", description="Deletion in progress")
        await write_record(cluster, latest, log, kind)
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


async def _forget_stored(run: Run) -> bool:
    """Forget a release only the store knows (an --atomic first install that failed, one
    uninstalled with --keep-history and whose records are gone); False if it has none."""
    return run.store is not None and await run.store.delete_release(run.key)
