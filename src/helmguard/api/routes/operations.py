"""Writes: check a chart, upload one, and start deploy, rollback and uninstall operations."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as Path_
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from helmguard.api.charts import (
    CheckRequest,
    DeployRequest,
    RollbackRequest,
    UninstallRequest,
    render_request,
    run_check,
)
from helmguard.api.context import (
    ApiContext,
    Cluster,
    Context,
    FullView,
    read_access,
    recorded_release,
    write_access,
)
from helmguard.api.operations import Operation, values_file
from helmguard.api.schemas import Ref, ReleaseId
from helmguard.preflight.findings import Finding
from helmguard.preflight.report import Report
from helmguard.store import ReleaseKey

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from helmguard.deploy import DeployOptions
    from helmguard.deploy.result import Result


class FindingItem(BaseModel):
    code: str
    name: str
    severity: str
    object: Ref
    source: str
    path: str
    message: str
    predicted: str
    fix: str
    target: Ref | None


class CheckOut(BaseModel):
    release: str
    namespace: str
    chart: str
    chart_version: str
    objects: int
    references: int
    offline: bool
    counts: dict[str, int]
    findings: list[FindingItem]


class OperationOut(BaseModel):
    """A background deploy, rollback or uninstall."""

    id: str
    kind: str
    release: ReleaseId
    state: str = Field(description="running, done (see result.outcome) or error.")
    started_at: datetime
    finished_at: datetime | None
    steps: list[dict[str, Any]]
    result: dict[str, Any] | None
    error: str


def operation_out(op: Operation, *, full: bool = True) -> OperationOut:
    """`full=False` (an anonymous reader): the steps without their details."""
    steps = list(op.steps) if full else [{**step, "details": {}} for step in op.steps]
    return OperationOut(
        id=op.id,
        kind=op.kind,
        release=ReleaseId.of(op.release),
        state=op.state,
        started_at=op.started_at,
        finished_at=op.finished_at,
        steps=steps,
        result=op.result,
        error=op.error,
    )


def finding_item(f: Finding) -> FindingItem:
    return FindingItem(
        code=f.code,
        name=f.name,
        severity=str(f.severity),
        object=Ref.of(f.object),
        source=f.source,
        path=f.path,
        message=f.message,
        predicted=f.predicted,
        fix=f.fix,
        target=Ref.of(f.target) if f.target is not None else None,
    )


def check_out(report: Report) -> CheckOut:
    return CheckOut(
        release=report.release,
        namespace=report.namespace,
        chart=report.chart,
        chart_version=report.chart_version,
        objects=report.objects,
        references=report.references,
        offline=report.offline,
        counts=report.counts(),
        findings=[finding_item(f) for f in report.findings],
    )


router = APIRouter(tags=["actions"])

_ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": OperationOut, "description": "started; follow /api/operations/{id}"},
    401: {"description": "missing or wrong token"},
    403: {"description": "this server does not deploy"},
    409: {"description": "the cluster's connection Secret is gone or unusable now"},
}


def _accepted(op: Operation) -> JSONResponse:
    return JSONResponse(
        operation_out(op).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/operations/{op.id}"},
    )


@router.post(
    "/api/check",
    response_model=CheckOut,
    dependencies=[write_access],
    responses={
        401: {"description": "missing or wrong token"},
        413: {"description": "values payload too large"},
        422: {"description": "bad chart reference, values YAML or template"},
    },
)
async def check(context: Context, body: CheckRequest, cluster: Cluster = "") -> CheckOut:
    """Render the chart with the values and report every reference that will break.

    Against the cluster (lookups, RBAC, server-side dry run) when the API has one (for
    `?cluster=NAME`, that served cluster); offline otherwise.
    """
    factory = context.kube_factory if not cluster else context.kube_for(cluster)
    report = await run_check(context.sources, body, factory)
    return check_out(report)


@router.put(
    "/api/charts",
    dependencies=[write_access],
    responses={413: {"description": "archive too large"}},
)
async def upload_chart(context: Context, request: Request) -> dict[str, str]:
    """Upload a chart archive (.tgz body); use the returned `chart` in check and deploy."""
    data = await request.body()
    if not data:
        raise HTTPException(422, "empty body: send the chart archive (.tgz) as the body")
    digest = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(context.uploads.put, digest, data)
    return {"chart": f"upload:{digest}"}


@router.post(
    "/api/deploy",
    status_code=202,
    response_model=OperationOut,
    dependencies=[write_access],
    responses={
        **_ACTION_RESPONSES,
        413: {"description": "values payload too large"},
        422: {"description": "bad chart reference or values YAML"},
    },
)
async def start_deploy(
    context: Context, body: DeployRequest, cluster: Cluster = ""
) -> JSONResponse:
    """Install or upgrade a release in the background; its steps stream on /api/stream.

    Preflight refuses charts with error findings unless `force` is set.
    """
    from helmguard.deploy import deploy

    options = context.deploy_options_for(cluster)
    sources, store = context.sources, context.store
    values = sources.values_text(body.values)
    chart = sources.chart_ref(body.chart, body.repo)
    path, cleanup = values_file(values) if values else ("", None)
    request = render_request(body, chart, path)
    chosen = replace(options, force=body.force, atomic=body.atomic, timeout=body.timeout)
    key = ReleaseKey(body.namespace, body.release, cluster)
    op = context.operations.start(
        "deploy",
        key,
        lambda op: deploy(request, chosen, store=store, listeners=[op.listener]),
        cleanup,
    )
    return _accepted(op)


@router.post(
    "/api/releases/{namespace}/{name}/rollback",
    status_code=202,
    response_model=OperationOut,
    dependencies=[write_access],
    responses={**_ACTION_RESPONSES, 404: {"description": "release not recorded"}},
)
async def start_rollback(
    context: Context, namespace: str, name: str, body: RollbackRequest, cluster: Cluster = ""
) -> JSONResponse:
    """Re-apply a stored revision (default: the one before the latest, as helm rollback)."""
    from helmguard.deploy.rollback import rollback

    store = context.store
    return await _release_action(
        context,
        "rollback",
        ReleaseKey(namespace, name, cluster),
        lambda chosen, op: rollback(
            namespace, name, body.revision, chosen, store=store, listeners=[op.listener]
        ),
        body.timeout,
    )


@router.post(
    "/api/releases/{namespace}/{name}/uninstall",
    status_code=202,
    response_model=OperationOut,
    dependencies=[write_access],
    responses={**_ACTION_RESPONSES, 404: {"description": "release not recorded"}},
)
async def start_uninstall(
    context: Context, namespace: str, name: str, body: UninstallRequest, cluster: Cluster = ""
) -> JSONResponse:
    """Delete every object of the release in reverse order and wait until they are gone."""
    from helmguard.deploy.uninstall import uninstall

    store = context.store
    return await _release_action(
        context,
        "uninstall",
        ReleaseKey(namespace, name, cluster),
        lambda chosen, op: uninstall(namespace, name, chosen, store=store, listeners=[op.listener]),
        body.timeout,
    )


async def _release_action(
    context: ApiContext,
    kind: str,
    key: ReleaseKey,
    action: Callable[[DeployOptions, Operation], Awaitable[Result]],
    timeout: float,  # noqa: ASYNC109 - the operation's deadline, not this call's
) -> JSONResponse:
    """Start `action` on a recorded release as a background operation (404 if unrecorded)."""
    options = context.deploy_options_for(key.cluster)
    release = await recorded_release(context.store, key)
    chosen = replace(options, timeout=timeout)
    return _accepted(context.operations.start(kind, release.key, lambda op: action(chosen, op)))


@router.get(
    "/api/operations/{op_id}",
    response_model=OperationOut,
    dependencies=[read_access],
    responses={404: {"description": "no such operation"}},
)
async def get_operation(
    context: Context, full: FullView, op_id: Annotated[str, Path_(max_length=64)]
) -> OperationOut:
    """A background operation: its steps so far and, once finished, its result
    (anonymous readers get the steps without their details)."""
    op = context.operations.get(op_id)
    if op is None:
        raise HTTPException(404, f"no operation {op_id} in this server process")
    return operation_out(op, full=full)
