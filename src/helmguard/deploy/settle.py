"""`settle`: finish what a dead process left on a release, under its Lease, and let go."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.oplog import Listener, OperationLog
from helmguard.deploy.result import Result
from helmguard.deploy.run import Run

if TYPE_CHECKING:
    from helmguard.store import Store


async def settle(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    config: Configuration | None = None,
    store: Store | StoreOpener | None = None,
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
    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("settle", namespace, name, options, cfg, log)
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
