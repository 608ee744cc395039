"""`deploy`: install a release, or upgrade it (as `helm upgrade --install`), and `plan`.

Renders the chart once with the cluster's capabilities and Helm's upgrade values, gates
on preflight (refused: nothing applied), creates the namespace if asked, then applies
the revision under the release's Lease (`apply_revision`).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from helmguard.deploy.config import Configuration, DeployOptions, StoreOpener, configuration
from helmguard.deploy.context import ReleaseContext, release_context, rendered_as_deployed
from helmguard.deploy.history import name_refusal, read_history
from helmguard.deploy.oplog import Listener, OperationLog, Step
from helmguard.deploy.release import record_kind
from helmguard.deploy.result import Outcome, Result
from helmguard.deploy.run import Run
from helmguard.deploy.values import UpgradeValues, current_release, upgrade_values
from helmguard.graph.order import Plan, build_plan
from helmguard.kube.classifier import retry
from helmguard.kube.errors import KubeError
from helmguard.manifest import ObjectRef
from helmguard.redact import values_digest

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart, RenderRequest
    from helmguard.preflight.report import Report
    from helmguard.store import Store

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


def plan(rendered: RenderedChart, *, operation: str = "install") -> Plan:
    """The waves and hooks `deploy` would execute for a rendered chart."""
    return build_plan(
        rendered.objects, hooks=rendered.hooks, crds=rendered.crds, operation=operation
    )


def _preflight_verdict(
    report: Report, log: OperationLog, threshold: Any
) -> tuple[str, ObjectRef | None] | None:
    """Log every finding; the refusal message and culprit when one is at `threshold`."""
    errors = [f for f in report.findings if f.severity >= threshold]
    for f in report.findings:
        log.emit(
            Step.PREFLIGHT_FINDING,
            f"{f.code} {f.severity} {f.object} {f.path}: {f.message}",
            level="error" if f.severity >= threshold else "warning",
            code=f.code,
            object=str(f.object),
            path=f.path,
            fix=f.fix,
        )
    if not errors:
        log.emit(Step.PREFLIGHT_PASSED, f"preflight: {len(report.findings)} finding(s), no errors")
        return None
    first = errors[0]
    message = (
        f"preflight found {len(errors)} error(s); nothing was applied. First: "
        f"{first.object} {first.path}: {first.message}. Fix: {first.fix} (--force deploys anyway)"
    )
    log.emit(Step.VERDICT, message, level="error", outcome=Outcome.REFUSED)
    return message, first.target or first.object


def _refused(
    run: Run,
    request: RenderRequest,
    message: str,
    culprit: ObjectRef | None = None,
    *,
    report: Report | None = None,
    logged: bool = False,
) -> Result:
    """The Result of a deploy refused before anything was applied (`logged`: its verdict
    is in the log already)."""
    if not logged:
        run.log.emit(Step.VERDICT, message, level="error", outcome=Outcome.REFUSED)
    return Result(
        "deploy",
        request.release,
        request.namespace,
        0,
        Outcome.REFUSED,
        message,
        culprit,
        report=report,
        log=tuple(run.log.records),
        seconds=time.monotonic() - run.started,
    )


async def _all(first: Awaitable[A], second: Awaitable[B], third: Awaitable[C]) -> tuple[A, B, C]:
    """Await the three at once; every one ends before the first error is raised."""
    answers = await asyncio.gather(first, second, third, return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    a, b, c = answers
    return cast("A", a), cast("B", b), cast("C", c)


async def _create_namespace(run: Run, namespace: str) -> None:
    """Helm's --create-namespace: the release namespace, labelled `name`, if it is missing."""
    cluster = await run.new_cluster()
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
    run.log.emit(Step.NAMESPACE_CREATED, f"created namespace {namespace}")


async def deploy(
    request: RenderRequest,
    options: DeployOptions = DeployOptions(),
    *,
    config: Configuration | None = None,
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

    cfg = configuration(options, config, store, listeners)
    log = OperationLog(cfg.listeners)
    run = Run("deploy", request.namespace, request.release, options, cfg, log)
    report: Report | None = None
    values: UpgradeValues | None = None
    rendered_for: ReleaseContext | None = None  # the context the chart was rendered in here
    # Helm's engine is a Go library that takes a few hundred ms to load: it loads in a
    # thread while the cluster is reached and asked what the render needs.
    engine = (
        asyncio.create_task(asyncio.to_thread(importlib.import_module, "helm_python"))
        if rendered is None
        else None
    )
    try:
        if rendered is None:
            from helmguard.chart.values import merge_user_values

            # Helm's upgrade values from the release as it stands (checked again under
            # the Lease: the revision number and pending state are decided there), and
            # the cluster's capabilities, asked at once.
            kube = await run.connect()
            peek = await run.new_cluster()
            history, served, version = await _all(
                read_history(
                    peek, request.namespace, request.release, kind=record_kind(options.driver)
                ),
                retry(kube.discovery.resources, timeout=options.timeout),
                retry(kube.version, timeout=options.timeout),
            )
            refused_name = name_refusal(options.require, history, request.release)
            if refused_name is not None:
                return _refused(run, request, refused_name)
            if engine is not None:
                await engine
            values = upgrade_values(
                merge_user_values(request.values), current_release(history), options.values_mode
            )
            request = replace(request, user_values=values.render, chart_values=values.chart_values)
            request = rendered_as_deployed(request, history, await kube.kubeconfig())
            rendered_for = release_context(history)
            # Rendered once, here: the preflight gate checks exactly what gets applied.
            rendered = render_chart(with_capabilities(request, capabilities_from(version, served)))
        if options.force:
            log.emit(
                Step.PREFLIGHT_SKIPPED,
                "WARNING: --force: preflight checks skipped; the cluster may accept objects "
                "that can never run",
                level="warning",
            )
        else:
            from helmguard.preflight.check import check_cluster
            from helmguard.preflight.findings import Severity

            report = await check_cluster(
                request,
                kube=await run.connect(),
                timeout=min(60.0, options.timeout),
                rendered=rendered,
                create_namespace=options.create_namespace,
            )
            refused = _preflight_verdict(report, log, Severity.ERROR)
            if refused is not None:
                return _refused(run, request, *refused, report=report, logged=True)
        if options.create_namespace:
            await _create_namespace(run, request.namespace)
        await run.open()
        # Under the Lease, the history is the one the revision number comes from.
        refused_name = name_refusal(options.require, run.history, request.release)
        if refused_name is not None:
            return _refused(run, request, refused_name, report=report)
        if not options.adopt:  # as helm's, refused before its record is written
            from helmguard.deploy.ownership import ownership_conflict

            assert run.cluster is not None
            conflict = await ownership_conflict(
                run.cluster,
                rendered.objects,
                current_release(run.history),
                request.namespace,
                request.release,
            )
            if conflict is not None:
                return _refused(run, request, conflict.explain(), conflict.object, report=report)
        # The executor is imported here, once the store is open: loaded in a thread beside
        # the store's (SQLAlchemy) and Helm's engine, it slowed both more than it saved.
        from helmguard.deploy.apply import apply_revision, helm_base

        # Under the Lease: the release must still be the one the chart was rendered for.
        context = release_context(run.history)
        if rendered_for is not None and context != rendered_for:
            return _refused(
                run,
                request,
                f"release {request.namespace}/{request.release} changed while its chart was "
                f"rendered (revision {rendered_for.revision} became {context.revision}): "
                "another client wrote it; run the deploy again",
                report=report,
            )
        operation = context.operation
        result = await apply_revision(
            run,
            objects=rendered.objects,
            crds=() if options.skip_crds else rendered.crds,
            hooks=rendered.hooks,
            chart=rendered.chart_name,
            chart_version=rendered.chart_version,
            digest=values_digest(rendered.values),
            operation=operation,
            base=helm_base(rendered, values),
            report=report,
        )
        return replace(result, notes=rendered.notes)
    finally:
        await asyncio.shield(run.close())
