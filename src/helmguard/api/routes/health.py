"""Health, readiness, metrics and what this server offers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from helmguard import metrics
from helmguard.api.context import Context, read_access
from helmguard.store import StoreError


class Info(BaseModel):
    version: str
    deploy: bool
    public_read: bool
    deploy_clusters: list[str] = Field(
        description="The cluster keys deploys, rollbacks and uninstalls reach ('' the default)."
    )


class Health(BaseModel):
    status: str
    detail: str = ""


router = APIRouter(tags=["health"])


def version() -> str:
    from helmguard import __version__

    return __version__


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(context: Context) -> Response:
    """The database answers, the live stream is reading it, the cluster is reachable."""
    try:
        await context.store.ping()
    except StoreError as exc:
        return JSONResponse(Health(status="unavailable", detail=str(exc)).model_dump(), 503)
    feed = context.feed
    if not feed.healthy:
        detail = f"live stream not reading the store: {feed.last_error or 'starting'}"
        return JSONResponse(Health(status="unavailable", detail=detail).model_dump(), 503)
    cluster = context.cluster_ready() if context.cluster_ready is not None else None
    if cluster is not None and not cluster.ready:
        return JSONResponse(Health(status="unavailable", detail=cluster.detail).model_dump(), 503)
    return JSONResponse(Health(status="ok").model_dump())


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[read_access])
async def prometheus() -> Response:
    """Prometheus text format: transitions, watch reconnects, sync lag, errors, deploy times."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


@router.get("/api/info", response_model=Info, dependencies=[read_access])
async def info(context: Context) -> Info:
    """What this server offers: version, where deploys reach, read access."""
    return Info(
        version=version(),
        deploy=context.deploy_available,
        public_read=context.auth.public_read,
        deploy_clusters=context.deploy_clusters,
    )
