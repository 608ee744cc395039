"""The chart catalogue and the values editor's checks, as one APIRouter.

Repositories are registered, updated and removed with the bearer token; their credentials
are never part of any answer (`chart.repos.public_view`). A chart version picked from a
repository is downloaded by `chart.source` into the upload cache and named `upload:<sha256>`,
so check and deploy use it like an uploaded archive, without the repository's credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi import Path as Path_
from pydantic import BaseModel, Field

from helmguard.api.charts import ChartInputError, ChartSources
from helmguard.api.context import Cluster, Context, read_access, write_access
from helmguard.chart import repos
from helmguard.chart.source import ChartError, resolve_chart
from helmguard.chart.valuescheck import (
    diff,
    effective_values,
    parse_values,
    schema_problems,
)

Name = Annotated[str, Path_(max_length=63, description="The repository's name.")]
ChartName = Annotated[str, Path_(max_length=253)]
MAX_LOCAL_CHARTS = 500


class RepositoryIn(BaseModel):
    """A repository to register; the password or token is stored sealed, never returned."""

    name: str = Field(min_length=1, max_length=63)
    url: str = Field(min_length=1, max_length=4096)
    username: str = Field("", max_length=256)
    password: str = Field("", max_length=4096)
    token: str = Field("", max_length=8192)
    ca_file: str = Field("", max_length=4096, description="A CA bundle on the server.")
    insecure_skip_tls_verify: bool = False


class RepositoryOut(BaseModel):
    name: str
    url: str
    kind: str = Field(description="helm (index.yaml) or oci (registry).")
    auth: str = Field(description="none, basic or token: which credentials are stored.")
    ca_file: str
    insecure_skip_tls_verify: bool
    added_at: str | None
    updated_at: str | None = Field(description="When the index was last read.")
    charts: int


class VersionOut(BaseModel):
    name: str
    version: str
    app_version: str
    created: str
    description: str
    keywords: list[str]
    deprecated: bool


class ChartOut(BaseModel):
    repository: str
    name: str
    latest: VersionOut
    versions: int


class ChartInfoOut(BaseModel):
    """A chart's own description, README, defaults and schema; `chart` to check and deploy."""

    chart: str
    name: str
    version: str
    app_version: str
    description: str
    readme: str
    values: str
    schema_: str = Field(alias="schema", serialization_alias="schema")


class LocalChartOut(BaseModel):
    chart: str = Field(description="The path to give as `chart`.")
    root: str
    name: str
    version: str


class ValuesCheckIn(BaseModel):
    values: str = Field("", description="The user's overrides (YAML).")
    defaults: str = Field("", description="The chart's values.yaml.")
    schema_: str = Field("", alias="schema", description="The chart's values.schema.json.")


class YamlProblemOut(BaseModel):
    message: str
    line: int | None = Field(description="1-based line of `values`; null when not known.")


class SchemaProblemOut(BaseModel):
    pointer: str
    path: str
    message: str


class ChangeOut(BaseModel):
    path: str
    change: str
    default: Any
    value: Any


class ValuesCheckOut(BaseModel):
    yaml: YamlProblemOut | None = Field(description="A syntax problem of the overrides.")
    defaults_yaml: YamlProblemOut | None = Field(description="A problem of the defaults.")
    schema_problems: list[SchemaProblemOut]
    diff: list[ChangeOut]


def _repo_error(exc: ChartError, field: str = "name") -> ChartInputError:
    status = 404 if isinstance(exc, repos.RepositoryNotFound) else 422
    return ChartInputError(field, str(exc), status=status, kind="repository_error")


# /api/repos, /api/catalogue, /api/charts/local, /api/charts/info, /api/values/check and a
# release's previous values. Previous values are read from the release records on the cluster
# the app's `kube_factory` opens, else the one of its `deploy_options` (neither: 403).
router = APIRouter(tags=["catalogue"])


def _views(records: list[Any]) -> list[RepositoryOut]:
    return [RepositoryOut(**repos.public_view(r)) for r in records]


@router.get("/api/repos", response_model=list[RepositoryOut], dependencies=[read_access])
async def list_repositories(context: Context) -> list[RepositoryOut]:
    """The registered repositories (never their credentials)."""
    return _views(await context.store.list_repositories(with_index=True))


@router.post(
    "/api/repos", status_code=201, response_model=RepositoryOut, dependencies=[write_access]
)
async def add_repository(context: Context, body: RepositoryIn) -> RepositoryOut:
    """Register a repository and read its index (nothing is kept if that fails)."""
    try:
        record = repos.new_repository(
            body.name,
            body.url,
            username=body.username,
            password=body.password,
            token=body.token,
            ca_file=body.ca_file,
            insecure=body.insecure_skip_tls_verify,
        )
        added = await repos.add(context.store, record)
    except repos.RepositoryError as exc:
        status = 409 if isinstance(exc, repos.RepositoryExists) else 422
        raise ChartInputError("repository", str(exc), status=status) from None
    except ChartError as exc:
        raise ChartInputError("url", str(exc), kind="repository_error") from None
    return _views([added])[0]


@router.delete("/api/repos/{name}", status_code=204, dependencies=[write_access])
async def remove_repository(context: Context, name: Name) -> Response:
    """Forget a repository, its credentials and its cached index."""
    try:
        repos.check_name(name)
    except ChartError as exc:
        raise _repo_error(exc) from None
    if not await context.store.remove_repository(name):
        raise HTTPException(404, f"no repository named {name!r}")
    return Response(status_code=204)


@router.post("/api/repos/{name}/update", response_model=RepositoryOut, dependencies=[write_access])
async def update_repository(context: Context, name: Name) -> RepositoryOut:
    """Read the repository's index again and cache it."""
    try:
        await repos.update(context.store, name)
    except ChartError as exc:
        raise _repo_error(exc) from None
    return _views([await repos.require(context.store, name)])[0]


@router.get("/api/catalogue", response_model=list[ChartOut], dependencies=[read_access])
async def search(
    context: Context,
    q: Annotated[str, Query(max_length=256, description="Name or keyword.")] = "",
) -> list[ChartOut]:
    """Charts of every repository whose name, keywords or description contain `q`."""
    found = repos.search(await context.store.list_repositories(with_index=True), q)
    return [ChartOut(**asdict(s)) for s in found]


@router.get(
    "/api/repos/{name}/charts/{chart}",
    response_model=list[VersionOut],
    dependencies=[read_access],
)
async def chart_versions(context: Context, name: Name, chart: ChartName) -> list[VersionOut]:
    """The chart's versions in the cached index, newest first."""
    try:
        repository = await repos.require(context.store, name)
        return [VersionOut(**asdict(v)) for v in repos.versions(repository, chart)]
    except ChartError as exc:
        raise _repo_error(exc, "chart") from None


@router.get(
    "/api/repos/{name}/charts/{chart}/versions/{version}",
    response_model=ChartInfoOut,
    dependencies=[write_access],
)
async def chart_version(
    context: Context, name: Name, chart: ChartName, version: Annotated[str, Path_(max_length=128)]
) -> ChartInfoOut:
    """Download one chart version: its README, defaults and schema, and the `chart`
    (an upload) to check and deploy it with."""
    try:
        repository = await repos.require(context.store, name)
        info, archive = await asyncio.to_thread(repos.chart_details, repository, chart, version)
    except ChartError as exc:
        raise _repo_error(exc, "chart") from None
    digest = hashlib.sha256(archive).hexdigest()
    await asyncio.to_thread(context.uploads.put, digest, archive)
    return ChartInfoOut(chart=f"upload:{digest}", **asdict(info))


@router.get("/api/charts/local", response_model=list[LocalChartOut], dependencies=[read_access])
async def local_charts(context: Context) -> list[LocalChartOut]:
    """The charts (directories with a Chart.yaml, .tgz archives) in the server's roots."""
    return await asyncio.to_thread(_local_charts, context.sources)


@router.get("/api/charts/info", response_model=ChartInfoOut, dependencies=[write_access])
async def chart_info(
    context: Context,
    chart: Annotated[str, Query(min_length=1, max_length=4096)],
) -> ChartInfoOut:
    """README, defaults and schema of a local chart or an upload (`upload:<sha256>`)."""
    ref = context.sources.chart_ref(chart, None)
    if ref.startswith("oci://"):
        raise ChartInputError("chart", "pick OCI charts through a registered registry")

    def describe() -> repos.ChartInfo:
        with tempfile.TemporaryDirectory(prefix="helmguard-info-") as tmp:
            return repos.describe_chart(resolve_chart(ref, workdir=Path(tmp)))

    try:
        info = await asyncio.to_thread(describe)
    except ChartError as exc:
        raise ChartInputError("chart", str(exc), kind="chart_error") from None
    return ChartInfoOut(chart=chart, **asdict(info))


@router.post("/api/values/check", response_model=ValuesCheckOut, dependencies=[write_access])
async def check_values(context: Context, body: ValuesCheckIn) -> ValuesCheckOut:
    """The overrides' YAML problem (at its line), the schema's complaints about the
    effective values (at their field), and how the effective values differ from the
    defaults."""
    size = len(body.values.encode(errors="replace"))
    if size > context.sources.max_values_bytes:
        raise ChartInputError(
            "values",
            f"values are {size} bytes; the limit is {context.sources.max_values_bytes}",
            status=413,
            kind="too_large",
        )
    overrides, problem = parse_values(body.values)
    defaults, defaults_problem = parse_values(body.defaults)
    effective = effective_values(defaults, overrides)
    return ValuesCheckOut(
        yaml=YamlProblemOut(**asdict(problem)) if problem else None,
        defaults_yaml=YamlProblemOut(**asdict(defaults_problem)) if defaults_problem else None,
        schema_problems=[
            SchemaProblemOut(**asdict(p))
            for p in ([] if problem else schema_problems(effective, body.schema_))
        ],
        diff=[ChangeOut(**asdict(c)) for c in ([] if problem else diff(defaults, effective))],
    )


@router.get("/api/releases/{namespace}/{name}/values", dependencies=[write_access])
async def previous_values(
    context: Context,
    namespace: Annotated[str, Path_(max_length=253)],
    name: Annotated[str, Path_(max_length=253)],
    revision: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    cluster: Cluster = "",
) -> dict[str, Any]:
    """The user-supplied values of a revision (default: the latest) as YAML, what `helm
    get values` shows, read from the release's record on the cluster."""
    from helmguard.deploy import read_history
    from helmguard.deploy.cluster import Cluster
    from helmguard.store import ReleaseKey

    kube = context.kube_for(cluster)
    if kube is None:
        raise HTTPException(403, "this server has no cluster to read release records from")
    key = ReleaseKey(namespace, name, cluster)
    if await context.store.get_release(key) is None:
        raise HTTPException(404, f"release {key} is not recorded")
    connection = await kube()
    async with connection:
        history = await read_history(
            Cluster(connection, deadline=time.monotonic() + 30), namespace, name
        )
    chosen = [h for h in history if revision is None or h.revision == revision]
    if not chosen:
        stored = ", ".join(str(h.revision) for h in history) or "none"
        raise HTTPException(
            404, f"release {key} has no revision {revision} on the cluster (stored: {stored})"
        )
    rev = chosen[-1]
    config = dict(rev.config)
    text = yaml.safe_dump(config, sort_keys=False) if config else ""
    return {"revision": rev.revision, "values": text}


def _local_charts(sources: ChartSources) -> list[LocalChartOut]:
    """Chart directories and archives up to two levels below each root, by path."""
    from helmguard import goyaml

    found: list[LocalChartOut] = []
    for root in sources.roots:
        candidates = [*root.glob("*/Chart.yaml"), *root.glob("*/*/Chart.yaml")]
        for chart_yaml in sorted(candidates)[:MAX_LOCAL_CHARTS]:
            try:
                meta = goyaml.load(chart_yaml.read_bytes())
            except (OSError, goyaml.YAMLError):
                continue
            meta = meta if isinstance(meta, dict) else {}
            found.append(
                LocalChartOut(
                    chart=str(chart_yaml.parent),
                    root=str(root),
                    name=str(meta.get("name") or chart_yaml.parent.name),
                    version=str(meta.get("version") or ""),
                )
            )
        for archive in sorted(root.glob("*.tgz"))[:MAX_LOCAL_CHARTS]:
            found.append(
                LocalChartOut(chart=str(archive), root=str(root), name=archive.stem, version="")
            )
    return found
