"""`release_test`: run the release's test hooks, as `helm test` does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import replace

from helmguard.deploy.config import Configuration, DeployOptions, configuration
from helmguard.deploy.engine import DeployFailed, Engine
from helmguard.deploy.history import write_record
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.release import with_hook_runs
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run, stored_hooks
from helmguard.graph.order import hook_steps


async def release_test(
    namespace: str,
    name: str,
    options: DeployOptions = DeployOptions(),
    *,
    config: Configuration | None = None,
    listeners: Sequence[Listener] = (),
    only: Collection[str] = (),
    skip: Collection[str] = (),
) -> Result:
    """Run the release's test hooks (`helm.sh/hook: test`) as `helm test` does.

    The hooks come from the latest stored revision and run in Helm's hook order with
    their delete policies (`only`, `skip`: helm test's --filter name=…, !name=…); the
    outcome is `passed`, or `failed` naming the first test that failed and why (the Job's
    condition and its pods' reasons). The release's record then says when each test ran
    and how it ended, as helm's does (`helm status` prints them).
    """
    # Like `helm test`, a test run is not a revision: nothing is written to the store.
    cfg = replace(configuration(options, config, None, listeners), store=None)
    log = OperationLog(cfg.listeners)
    run = Run("test", namespace, name, options, cfg, log)
    try:
        cluster = await run.open()
        latest = run.latest()
        steps = [
            s
            for s in hook_steps(stored_hooks(latest), "test")
            if s.obj.name not in skip and (not only or s.obj.name in only)
        ]
        engine = Engine(cluster, log, namespace, name, latest.revision)
        outcome, message, root = Outcome.PASSED, "", None
        try:
            await engine.run_hooks(steps, "test")
            message = (
                f"revision {latest.revision}: {len(steps)} test(s) passed"
                if steps
                else f"revision {latest.revision} has no test hooks"
                + (" that --filter selects" if only or skip else "")
            )
        except DeployFailed as exc:
            outcome, message = Outcome.FAILED, exc.message
            if exc.verdict is not None:
                root = exc.verdict.root_cause
        finally:
            if engine.hook_runs:
                await asyncio.shield(
                    write_record(
                        cluster, with_hook_runs(latest, engine.hook_runs), log, run.record_kind
                    )
                )
        log.emit(
            Step.VERDICT,
            message,
            level="info" if outcome == Outcome.PASSED else "error",
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
