"""`rollback`: re-apply a stored revision as a new one, as `helm rollback` does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helmguard.deploy.apply import reapply
from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.history import NoSuchRevision, read_history, rollback_target
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.release import RevisionManifest
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run
from helmguard.kube.errors import KubeError

if TYPE_CHECKING:
    from helmguard.store import Store


async def rollback(
    namespace: str,
    name: str,
    revision: int | None = None,
    options: DeployOptions = DeployOptions(),
    *,
    dry_run: bool = False,
    config: Configuration | None = None,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Re-apply a stored revision (default, or 0: the one before the latest, as helm's) as a
    new one. `dry_run`: check that it can be chosen, as helm's, and change nothing."""
    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("rollback", namespace, name, options, cfg, log)
    try:
        if dry_run:
            cluster = await run.new_cluster()
            history = await read_history(cluster, namespace, name, kind=run.record_kind)
            target = _target(namespace, name, history, revision)
            message = (
                f"dry run: release {namespace}/{name} would be rolled back to revision "
                f"{target.revision} as revision {history[-1].revision + 1}; nothing changed "
                f"(helmguard diff rollback {name} {target.revision} shows the changes)"
            )
            log.emit(Step.VERDICT, message)
            return Result(
                "rollback",
                name,
                namespace,
                0,
                Outcome.DRY_RUN,
                message,
                log=tuple(log.records),
                seconds=time.monotonic() - run.started,
            )
        await run.open()
        target = _target(namespace, name, run.history, revision)
        log.emit(Step.ROLLBACK_TARGET, f"rolling back to revision {target.revision}")
        return await reapply(run, target)
    finally:
        await asyncio.shield(run.close())


def _target(
    namespace: str, name: str, history: Sequence[RevisionManifest], revision: int | None
) -> RevisionManifest:
    try:
        return rollback_target(namespace, name, history, revision)
    except NoSuchRevision as exc:
        raise KubeError(
            f"{exc}.",
            fix="Check the release name and namespace (helmguard keeps revisions as Secrets in "
            "the release namespace), or name a stored revision: helmguard rollback RELEASE "
            "REVISION.",
        ) from None
