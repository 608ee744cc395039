"""`rollback`: re-apply a stored revision as a new one, as `helm rollback` does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helmguard.deploy.apply import reapply
from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.result import Result
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
    config: Configuration | None = None,
    store: Store | StoreOpener | None = None,
    listeners: Sequence[Listener] = (),
) -> Result:
    """Re-apply a stored revision (default: the last deployed before the latest) as a new one."""
    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("rollback", namespace, name, options, cfg, log)
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
        log.emit(Step.ROLLBACK_TARGET, f"rolling back to revision {target.revision}")
        return await reapply(run, target)
    finally:
        await asyncio.shield(run.close())
