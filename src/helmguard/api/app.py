"""The FastAPI application: middleware, error handlers, and the routers of `api.routes`.

`helmguard serve` builds it with `create_app(store, token=..., public_read=...)` and runs
it with uvicorn on 127.0.0.1. No CORS middleware is installed: browsers refuse
cross-origin reads, and every write needs the bearer token anyway.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from helmguard import metrics
from helmguard.api.auth import load_or_create_token
from helmguard.api.charts import ChartInputError, ChartSources, KubeFactory
from helmguard.api.context import ApiContext, Auth
from helmguard.api.feed import Feed
from helmguard.api.limits import BodyLimit
from helmguard.api.operations import Operations
from helmguard.api.routes import catalogue, clusters, health, operations, pages, releases, stream
from helmguard.api.uploads import UploadCache, default_upload_dir
from helmguard.kube.errors import KubeError
from helmguard.store import Store, StoreError

if TYPE_CHECKING:
    from helmguard.deploy import DeployOptions
    from helmguard.sync.replica import Leaderless
    from helmguard.sync.supervisor import Readiness

log = logging.getLogger(__name__)

MAX_VALUES_BYTES = 1 << 20  # a values file larger than 1 MiB is almost certainly a mistake
MAX_ARCHIVE_BYTES = 20 << 20  # the largest chart archive an upload may carry

# Content Security Policy: only this origin's own scripts and styles; no inline script.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(
    store: Store,
    *,
    token: str | None,
    public_read: bool = False,
    kube_factory: KubeFactory | None = None,
    chart_roots: Sequence[Path] | None = None,
    uploads: UploadCache | None = None,
    allowed_hosts: Sequence[str] | None = None,
    cluster_ready: Callable[[], Readiness] | None = None,
    cluster_leaderless: Callable[[], Mapping[str, Leaderless]] | None = None,
    max_values_bytes: int = MAX_VALUES_BYTES,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    poll_interval: float = 0.2,
    deploy_options: DeployOptions | None = None,
    cluster_deploys: Mapping[str, DeployOptions] | None = None,
    read_only: bool = False,
) -> FastAPI:
    """The helmguard API and page over `store`.

    `token`: the bearer token; None loads $HELMGUARD_API_TOKEN or the config-dir token
    file (created on first start, mode 0600). `public_read` lets reads through without
    it; writes always need it. `kube_factory` opens a `helmguard.kube.Kube` for cluster
    checks (None: offline checks only). `chart_roots`: the directories local chart
    paths must lie in (default: the working directory); uploads are always allowed and
    kept in `uploads` (default: the data directory's bounded cache). `allowed_hosts`:
    the Host header values accepted (None: any; `serve` on loopback sets them, against
    DNS rebinding). `cluster_ready` (serve's cluster supervisor) makes /readyz say not
    ready while the cluster has been unreachable for too long; `cluster_leaderless`
    (serve --leader-elect) names in /api/clusters the clusters no replica leads. Anonymous readers
    (`public_read`) see names and states: no values digests, no stored plans, no
    operation log details.
    `deploy_options` (kubeconfig, context, timeouts) enables deploy, rollback and
    uninstall, which then run as background operations writing to `store`;
    `cluster_deploys` those of each cluster `?cluster=NAME` may name (serve over several
    clusters; read on each request, not copied: serve adds and removes clusters in it).
    `read_only` (serve --read-only) refuses every write: deploys and cluster registrations.
    """
    cache = (uploads or UploadCache(default_upload_dir())).open()
    sources = ChartSources(
        roots=tuple(Path(r).resolve() for r in (chart_roots or [Path.cwd()])),
        uploads=cache,
        max_values_bytes=max_values_bytes,
    )
    context = ApiContext(
        store=store,
        auth=Auth(token if token is not None else load_or_create_token(), public_read),
        feed=Feed(store, interval=poll_interval),
        sources=sources,
        uploads=cache,
        operations=Operations(),
        kube_factory=kube_factory,
        deploy_options=deploy_options,
        cluster_ready=cluster_ready,
        cluster_leaderless=cluster_leaderless,
        cluster_deploys={} if cluster_deploys is None else cluster_deploys,
        read_only=read_only,
    )
    app = FastAPI(
        title="helmguard",
        summary="Deploy Helm charts as application components; never lie about their state.",
        version=health.version(),
        lifespan=_lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = context
    app.state.feed = context.feed
    app.state.kube_factory = kube_factory
    app.state.upload_dir = cache.directory
    app.add_middleware(
        BodyLimit,
        default_limit=max_values_bytes + 64 * 1024,
        limits={"/api/charts": max_archive_bytes},
    )
    if allowed_hosts is not None:
        # Outermost: a foreign Host is refused before anything else runs.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.middleware("http")(_headers_and_metrics)
    app.exception_handler(StoreError)(_store_error)
    app.exception_handler(KubeError)(_kube_error)
    app.exception_handler(ChartInputError)(_chart_error)
    app.exception_handler(RequestValidationError)(_invalid)

    # The order of the routes is the order of the OpenAPI document.
    app.include_router(health.router)
    app.include_router(releases.router)
    app.include_router(clusters.router)
    app.include_router(stream.router)
    app.include_router(operations.router)
    app.include_router(catalogue.router)
    app.mount("/static", pages.static_files(), name="static")
    app.include_router(pages.router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ApiContext = app.state.context
    await context.feed.start()
    try:
        yield
    finally:
        await context.operations.close()
        await context.feed.stop()


async def _headers_and_metrics(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.status_code >= 400:
        metrics.HTTP_ERRORS.labels(status=str(response.status_code)).inc()
    return response


async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
    return JSONResponse({"detail": f"the database is unavailable: {exc}"}, status_code=503)


async def _kube_error(_: Request, exc: KubeError) -> JSONResponse:
    detail = f"the cluster could not answer: {exc.message}"
    return JSONResponse({"detail": f"{detail}; {exc.fix}" if exc.fix else detail}, 503)


async def _chart_error(_: Request, exc: ChartInputError) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": exc.kind}]},
        status_code=exc.status,
    )


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # The default handler echoes the input back; a values payload can be large.
    errors = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


# How a browser spells the loopback interface in a Host header (IPv6 in brackets).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def default_allowed_hosts(bind: str, extra: Sequence[str] = ()) -> list[str] | None:
    """The Host header values `serve` accepts: on a loopback address, that address and the
    localhost names (a page elsewhere cannot reach it by DNS rebinding) plus `extra`; on
    any other address `extra` alone, or None (every Host) when none are given."""
    import ipaddress

    try:
        address = ipaddress.ip_address(bind.strip("[]"))
    except ValueError:
        loopback, spelled = bind == "localhost", bind
    else:
        loopback = address.is_loopback
        spelled = f"[{address}]" if address.version == 6 else str(address)
    if loopback:
        return list(dict.fromkeys([spelled, *LOOPBACK_NAMES, *extra]))
    return list(extra) or None
