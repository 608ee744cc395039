"""`rollback`: re-apply a stored revision as a new one, as `helm rollback` does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helmguard.deploy.apply import reapply
from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.history import read_history
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


class NoSuchRevision(LookupError):
    """The release has no revision to roll back to (the message names what is stored)."""


def rollback_target(
    namespace: str, name: str, history: Sequence[RevisionManifest], revision: int | None
) -> RevisionManifest:
    """The revision to roll back to: `revision`, or (None, 0) the latest's number minus one,
    whatever its status, as helm's prepareRollback."""
    if not history:
        raise NoSuchRevision(f"release {namespace}/{name} has no stored revisions on the cluster")
    wanted = revision or history[-1].revision - 1
    found = [h for h in history if h.revision == wanted]
    if not found and wanted == 0:
        raise NoSuchRevision(
            f"release {namespace}/{name} has only revision {history[-1].revision}: no previous "
            'one to roll back to (helm: "release has no 0 version")'
        )
    if not found:
        known = ", ".join(str(h.revision) for h in history)
        raise NoSuchRevision(
            f"release {namespace}/{name} has no revision {wanted} (stored: {known}; helm: "
            f'"release has no {wanted} version")'
        )
    return found[0]


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
