"""The FastAPI application: REST endpoints, the live stream, health, metrics, and the page.

`helmguard serve` builds it with `create_app(store, token=..., public_read=...)` and runs
it with uvicorn on 127.0.0.1. No CORS middleware is installed: browsers refuse
cross-origin reads, and every write needs the bearer token anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from helmguard import metrics
from helmguard.api.auth import load_or_create_token, token_matches
from helmguard.api.charts import (
    ChartInputError,
    ChartSources,
    CheckRequest,
    DeployRequest,
    KubeFactory,
    RollbackRequest,
    UninstallRequest,
    render_request,
    run_check,
)
from helmguard.api.feed import Feed
from helmguard.api.graph import build_graph
from helmguard.api.limits import BodyLimit
from helmguard.api.operations import Operation, Operations, values_file
from helmguard.api.routes.catalogue import catalogue_router
from helmguard.api.schemas import (
    CheckOut,
    EventItem,
    GraphOut,
    Health,
    Info,
    LogItem,
    OperationOut,
    ReleaseDetail,
    ReleaseItem,
    RevisionDetail,
    RevisionItem,
    TransitionItem,
    check_out,
    event_item,
    graph_out,
    log_item,
    operation_out,
    release_detail,
    release_item,
    revision_detail,
    revision_item,
    state_severity,
    transition_item,
)
from helmguard.api.uploads import UploadCache, default_upload_dir
from helmguard.kube.errors import KubeError
from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import ReleaseKey, ReleaseRecord, Store, StoreError

if TYPE_CHECKING:
    from helmguard.deploy import DeployOptions
    from helmguard.sync.supervisor import Readiness

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_VALUES_BYTES = 1 << 20  # a values file larger than 1 MiB is almost certainly a mistake
MAX_ARCHIVE_BYTES = 20 << 20  # the largest chart archive an upload may carry
HEARTBEAT_SECONDS = 15.0

Cluster = Annotated[
    str, Query(max_length=253, description="Cluster name; empty for the one cluster.")
]

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


class _Auth:
    """Bearer-token checks: `write` always, `read` unless the API was started public-read."""

    def __init__(self, token: str, public_read: bool) -> None:
        self._token = token
        self.public_read = public_read

    def _check(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(
                401,
                "missing bearer token: send `Authorization: Bearer <token>` (the token is in "
                "$HELMGUARD_API_TOKEN or the api-token file of helmguard's config directory)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token_matches(given.strip(), self._token):
            raise HTTPException(
                401,
                "wrong bearer token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def read(self, request: Request) -> None:
        if not self.public_read:
            self._check(request)

    def anonymous(self, request: Request) -> bool:
        """Whether this read came without the right token (possible only with public_read)."""
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() != "bearer" or not token_matches(given.strip(), self._token)

    def write(self, request: Request) -> None:
        self._check(request)


def _not_recorded(key: ReleaseKey) -> HTTPException:
    return HTTPException(
        404,
        f"release {key} is not recorded; GET /api/releases lists the releases helmguard knows",
    )


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
    max_values_bytes: int = MAX_VALUES_BYTES,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    poll_interval: float = 0.2,
    deploy_options: DeployOptions | None = None,
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
    ready while the cluster has been unreachable for too long. Anonymous readers
    (`public_read`) see names and states: no values digests, no stored plans, no
    operation log details.
    `deploy_options` (kubeconfig, context, timeouts) enables deploy, rollback and
    uninstall, which then run as background operations writing to `store`.
    """
    auth = _Auth(token if token is not None else load_or_create_token(), public_read)
    feed = Feed(store, interval=poll_interval)
    cache = (uploads or UploadCache(default_upload_dir())).open()
    sources = ChartSources(
        roots=tuple(Path(r).resolve() for r in (chart_roots or [Path.cwd()])),
        uploads=cache,
        max_values_bytes=max_values_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        try:
            yield
        finally:
            await operations.close()
            await feed.stop()

    app = FastAPI(
        title="helmguard",
        summary="Deploy Helm charts as application components; never lie about their state.",
        version=_version(),
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    deploy_available = deploy_options is not None and not store.read_only
    operations = Operations()
    app.state.feed = feed
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

    @app.middleware("http")
    async def _headers_and_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.status_code >= 400:
            metrics.HTTP_ERRORS.labels(status=str(response.status_code)).inc()
        return response

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"the database is unavailable: {exc}"}, status_code=503)

    @app.exception_handler(KubeError)
    async def _kube_error(_: Request, exc: KubeError) -> JSONResponse:
        detail = f"the cluster could not answer: {exc.message}"
        return JSONResponse({"detail": f"{detail}; {exc.fix}" if exc.fix else detail}, 503)

    @app.exception_handler(ChartInputError)
    async def _chart_error(_: Request, exc: ChartInputError) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": exc.kind}]},
            status_code=exc.status,
        )

    @app.exception_handler(RequestValidationError)
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

    read = Depends(auth.read)
    write = Depends(auth.write)

    async def release_or_404(namespace: str, name: str, cluster: str) -> ReleaseRecord:
        key = ReleaseKey(namespace, name, cluster)
        release = await store.get_release(key)
        if release is None:
            raise _not_recorded(key)
        return release

    # ---- health and metrics --------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], responses={503: {"model": Health}})
    async def readyz() -> Response:
        """The database answers, the live stream is reading it, the cluster is reachable."""
        try:
            await store.ping()
        except StoreError as exc:
            return JSONResponse(Health(status="unavailable", detail=str(exc)).model_dump(), 503)
        if not feed.healthy:
            detail = f"live stream not reading the store: {feed.last_error or 'starting'}"
            return JSONResponse(Health(status="unavailable", detail=detail).model_dump(), 503)
        cluster = cluster_ready() if cluster_ready is not None else None
        if cluster is not None and not cluster.ready:
            return JSONResponse(
                Health(status="unavailable", detail=cluster.detail).model_dump(), 503
            )
        return JSONResponse(Health(status="ok").model_dump())

    @app.get("/metrics", response_class=PlainTextResponse, tags=["health"], dependencies=[read])
    async def prometheus() -> Response:
        """Prometheus text format: transitions, watch reconnects, sync lag, errors, deploy times."""
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    # ---- reads ---------------------------------------------------------------------------

    @app.get("/api/info", response_model=Info, tags=["health"], dependencies=[read])
    async def info() -> Info:
        """What this server offers: version, whether deploys are possible, read access."""
        return Info(version=_version(), deploy=deploy_available, public_read=public_read)

    @app.get(
        "/api/releases", response_model=list[ReleaseItem], tags=["releases"], dependencies=[read]
    )
    async def list_releases() -> list[ReleaseItem]:
        """Every release with its worst state and the root cause in one line."""
        return [
            release_item(s)
            for s in await store.release_summaries(state_severity, State.READY.value)
        ]

    @app.get(
        "/api/releases/{namespace}/{name}",
        response_model=ReleaseDetail,
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def get_release(namespace: str, name: str, cluster: Cluster = "") -> ReleaseDetail:
        """Components (with pods) and other resources: state, reason, since, root cause."""
        release = await release_or_404(namespace, name, cluster)
        resources = await store.list_resources(release.key)
        children = await store.list_resources(release.key, children=True)
        return release_detail(release, resources, children)

    @app.get(
        "/api/releases/{namespace}/{name}/revisions",
        response_model=list[RevisionItem],
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def list_revisions(
        request: Request, namespace: str, name: str, cluster: Cluster = ""
    ) -> list[RevisionItem]:
        """The release's revisions, oldest first (no values digest for anonymous readers)."""
        release = await release_or_404(namespace, name, cluster)
        full = not auth.anonymous(request)
        return [revision_item(r, full=full) for r in await store.list_revisions(release.key)]

    @app.get(
        "/api/releases/{namespace}/{name}/revisions/{number}",
        response_model=RevisionDetail,
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release or revision not recorded"}},
    )
    async def get_revision(
        request: Request, namespace: str, name: str, number: int, cluster: Cluster = ""
    ) -> RevisionDetail:
        """One revision with its stored plan (Secret data redacted by the store; no plan and
        no values digest for anonymous readers)."""
        release = await release_or_404(namespace, name, cluster)
        for r in await store.list_revisions(release.key):
            if r.number == number:
                return revision_detail(r, full=not auth.anonymous(request))
        raise HTTPException(404, f"release {release.key} has no revision {number}")

    @app.get(
        "/api/releases/{namespace}/{name}/log",
        response_model=list[LogItem],
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def operation_log(
        request: Request,
        namespace: str,
        name: str,
        cluster: Cluster = "",
        revision: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    ) -> list[LogItem]:
        """The operation log (one revision's when given), in the order it was written.

        Anonymous readers get the steps without their details."""
        release = await release_or_404(namespace, name, cluster)
        full = not auth.anonymous(request)
        return [log_item(e, full=full) for e in await store.operation_log(release.key, revision)]

    @app.get(
        "/api/releases/{namespace}/{name}/events",
        response_model=list[EventItem],
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def events(
        namespace: str,
        name: str,
        cluster: Cluster = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        group: Annotated[str | None, Query(max_length=253)] = None,
        kind: Annotated[str | None, Query(max_length=253)] = None,
        object_namespace: Annotated[str | None, Query(max_length=253)] = None,
        object_name: Annotated[str | None, Query(max_length=253)] = None,
    ) -> list[EventItem]:
        """Kubernetes Events about the release's objects (of one object when kind and
        object_name are given), most recently seen first."""
        release = await release_or_404(namespace, name, cluster)
        ref = None
        if kind and object_name:
            ref = ObjectRef(group or "", kind, object_namespace or "", object_name)
        return [event_item(e) for e in await store.events(release.key, ref=ref, limit=limit)]

    @app.get(
        "/api/releases/{namespace}/{name}/history",
        response_model=list[TransitionItem],
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def history(
        namespace: str,
        name: str,
        cluster: Cluster = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        group: Annotated[str | None, Query(max_length=253)] = None,
        kind: Annotated[str | None, Query(max_length=253)] = None,
        object_namespace: Annotated[str | None, Query(max_length=253)] = None,
        object_name: Annotated[str | None, Query(max_length=253)] = None,
    ) -> list[TransitionItem]:
        """Status transitions, newest first; of one object when kind and object_name are given."""
        release = await release_or_404(namespace, name, cluster)
        ref = None
        if kind and object_name:
            ref = ObjectRef(group or "", kind, object_namespace or "", object_name)
        rows = await store.history(release.key, ref=ref, limit=limit)
        return [transition_item(t) for t in rows]

    @app.get(
        "/api/releases/{namespace}/{name}/graph",
        response_model=GraphOut,
        tags=["releases"],
        dependencies=[read],
        responses={404: {"description": "release not recorded"}},
    )
    async def graph(namespace: str, name: str, cluster: Cluster = "") -> GraphOut:
        """References between the release's objects (and to the cluster), each node's status.

        Built from the latest revision's plan; a broken edge carries the cluster's message.
        """
        release = await release_or_404(namespace, name, cluster)
        revisions = await store.list_revisions(release.key)
        latest = revisions[-1] if revisions else None
        resources = await store.list_resources(release.key)
        built = build_graph(
            latest.plan if latest else None, resources, revision=latest.number if latest else None
        )
        return graph_out(built)

    @app.get(
        "/api/stream",
        tags=["stream"],
        dependencies=[read],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream(
        request: Request,
        namespace: Annotated[str | None, Query(max_length=253)] = None,
        name: Annotated[str | None, Query(max_length=253)] = None,
        cluster: Cluster = "",
    ) -> StreamingResponse:
        """Server-sent events: `transition` (status changes) and `operation` (operation steps).

        With namespace and name, only that release's events.
        """
        key = ReleaseKey(namespace, name, cluster) if namespace and name else None

        async def events() -> AsyncIterator[bytes]:
            async with feed.subscribe(key) as sub:
                yield b"retry: 2000\n: connected\n\n"
                while not sub.overflowed:
                    try:
                        message = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": ping\n\n"
                        continue
                    if message is None:
                        return
                    # Everything already queued goes out in one write: fan-out stays cheap.
                    chunk = [message.data]
                    while not sub.queue.empty() and len(chunk) < 500:
                        more = sub.queue.get_nowait()
                        if more is None:
                            yield b"".join(chunk)
                            return
                        chunk.append(more.data)
                    yield b"".join(chunk)
                yield b'event: resync\ndata: {"reason":"client too slow; reload"}\n\n'

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # ---- writes --------------------------------------------------------------------------

    @app.post(
        "/api/check",
        response_model=CheckOut,
        tags=["actions"],
        dependencies=[write],
        responses={
            401: {"description": "missing or wrong token"},
            413: {"description": "values payload too large"},
            422: {"description": "bad chart reference, values YAML or template"},
        },
    )
    async def check(body: CheckRequest) -> CheckOut:
        """Render the chart with the values and report every reference that will break.

        Against the cluster (lookups, RBAC, server-side dry run) when the API has one;
        offline otherwise.
        """
        report = await run_check(sources, body, kube_factory)
        return check_out(report)

    @app.put(
        "/api/charts",
        tags=["actions"],
        dependencies=[write],
        responses={413: {"description": "archive too large"}},
    )
    async def upload_chart(request: Request) -> dict[str, str]:
        """Upload a chart archive (.tgz body); use the returned `chart` in check and deploy."""
        data = await request.body()
        if not data:
            raise HTTPException(422, "empty body: send the chart archive (.tgz) as the body")
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(cache.put, digest, data)
        return {"chart": f"upload:{digest}"}

    def require_deploy() -> DeployOptions:
        if deploy_options is None or store.read_only:
            raise HTTPException(
                403,
                "deploy, rollback and uninstall are not enabled on this server (it was started "
                "without cluster access or with a read-only database)",
            )
        return deploy_options

    def accepted(op: Operation) -> JSONResponse:
        return JSONResponse(
            operation_out(op).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/api/operations/{op.id}"},
        )

    _ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
        202: {"model": OperationOut, "description": "started; follow /api/operations/{id}"},
        401: {"description": "missing or wrong token"},
        403: {"description": "this server does not deploy"},
    }

    @app.post(
        "/api/deploy",
        status_code=202,
        response_model=OperationOut,
        tags=["actions"],
        dependencies=[write],
        responses={
            **_ACTION_RESPONSES,
            413: {"description": "values payload too large"},
            422: {"description": "bad chart reference or values YAML"},
        },
    )
    async def start_deploy(body: DeployRequest) -> JSONResponse:
        """Install or upgrade a release in the background; its steps stream on /api/stream.

        Preflight refuses charts with error findings unless `force` is set.
        """
        from dataclasses import replace

        from helmguard.deploy import deploy

        options = require_deploy()
        values = sources.values_text(body.values)
        chart = sources.chart_ref(body.chart, body.repo)
        path, cleanup = values_file(values) if values else ("", None)
        request = render_request(body, chart, path)
        chosen = replace(options, force=body.force, atomic=body.atomic, timeout=body.timeout)
        key = ReleaseKey(body.namespace, body.release)
        op = operations.start(
            "deploy",
            key,
            lambda op: deploy(request, chosen, store=store, listeners=[op.listener]),
            cleanup,
        )
        return accepted(op)

    @app.post(
        "/api/releases/{namespace}/{name}/rollback",
        status_code=202,
        response_model=OperationOut,
        tags=["actions"],
        dependencies=[write],
        responses={**_ACTION_RESPONSES, 404: {"description": "release not recorded"}},
    )
    async def start_rollback(namespace: str, name: str, body: RollbackRequest) -> JSONResponse:
        """Re-apply a stored revision (default: the last deployed before the latest)."""
        from dataclasses import replace

        from helmguard.deploy import rollback

        options = require_deploy()
        release = await release_or_404(namespace, name, "")
        chosen = replace(options, timeout=body.timeout)
        op = operations.start(
            "rollback",
            release.key,
            lambda op: rollback(
                namespace, name, body.revision, chosen, store=store, listeners=[op.listener]
            ),
        )
        return accepted(op)

    @app.post(
        "/api/releases/{namespace}/{name}/uninstall",
        status_code=202,
        response_model=OperationOut,
        tags=["actions"],
        dependencies=[write],
        responses={**_ACTION_RESPONSES, 404: {"description": "release not recorded"}},
    )
    async def start_uninstall(namespace: str, name: str, body: UninstallRequest) -> JSONResponse:
        """Delete every object of the release in reverse order and wait until they are gone."""
        from dataclasses import replace

        from helmguard.deploy import uninstall

        options = require_deploy()
        release = await release_or_404(namespace, name, "")
        chosen = replace(options, timeout=body.timeout)
        op = operations.start(
            "uninstall",
            release.key,
            lambda op: uninstall(namespace, name, chosen, store=store, listeners=[op.listener]),
        )
        return accepted(op)

    @app.get(
        "/api/operations/{op_id}",
        response_model=OperationOut,
        tags=["actions"],
        dependencies=[read],
        responses={404: {"description": "no such operation"}},
    )
    async def get_operation(
        request: Request, op_id: Annotated[str, Path_(max_length=64)]
    ) -> OperationOut:
        """A background operation: its steps so far and, once finished, its result
        (anonymous readers get the steps without their details)."""
        op = operations.get(op_id)
        if op is None:
            raise HTTPException(404, f"no operation {op_id} in this server process")
        return operation_out(op, full=not auth.anonymous(request))

    app.include_router(catalogue_router(store, sources, read, write, kube_factory, deploy_options))

    # ---- the page ------------------------------------------------------------------------

    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-store"})

    return app


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


def _version() -> str:
    from helmguard import __version__

    return __version__
