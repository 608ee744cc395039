"""What every route shares, kept on `app.state.context`, and the FastAPI dependencies to it.

`create_app` builds one `ApiContext` per application; the routers in `api.routes` reach
it through `Context` (and the bearer-token checks through `read_access`/`write_access`),
never through closures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Query, Request
from pydantic import AfterValidator

from helmguard.api.auth import token_matches
from helmguard.store import ReleaseKey, ReleaseRecord, Store
from helmguard.store.records import cluster_name_problem

if TYPE_CHECKING:
    from helmguard.api.charts import ChartSources, KubeFactory
    from helmguard.api.feed import Feed
    from helmguard.api.operations import Operations
    from helmguard.api.uploads import UploadCache
    from helmguard.deploy import DeployOptions
    from helmguard.sync.replica import Leaderless
    from helmguard.sync.supervisor import Readiness


def cluster_name(name: str) -> str:
    """`name` if it can name a cluster ("" is the default), else ValueError saying why."""
    problem = cluster_name_problem(name) if name else None
    if problem is not None:
        raise ValueError(f"{problem}, or empty for the default cluster")
    return name


Cluster = Annotated[
    str,
    Query(description="Cluster name; empty for the default cluster."),
    AfterValidator(cluster_name),
]
# On a list: absent for every cluster, empty for the default cluster, else that cluster.
ClusterFilter = Annotated[
    str | None,
    Query(description="Only this cluster's (empty: the default cluster's); absent: all."),
    AfterValidator(lambda name: None if name is None else cluster_name(name)),
]


class Auth:
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


@dataclass(frozen=True)
class ApiContext:
    """The store and the services built over it, one set per application."""

    store: Store
    auth: Auth
    feed: Feed
    sources: ChartSources
    uploads: UploadCache
    operations: Operations
    kube_factory: KubeFactory | None
    deploy_options: DeployOptions | None
    cluster_ready: Callable[[], Readiness] | None
    # Per cluster key ("" the default): the options of deploys to it (its kubeconfig/context).
    cluster_deploys: Mapping[str, DeployOptions] = field(default_factory=dict)
    read_only: bool = False  # serve --read-only: no deploys, no cluster registrations
    # serve --leader-elect: the clusters no replica leads, as this replica sees them.
    cluster_leaderless: Callable[[], Mapping[str, Leaderless]] | None = None

    @property
    def writable(self) -> bool:
        """Whether this server changes anything (deploys, registrations) at all."""
        return not (self.read_only or self.store.read_only)

    @property
    def deploy_available(self) -> bool:
        return self.deploy_options is not None and self.writable

    @property
    def deploy_clusters(self) -> list[str]:
        """The cluster keys deploys reach ("" the default), none with a read-only store."""
        if not self.writable:
            return []
        default = [""] if self.deploy_options is not None else []
        return sorted({*default, *self.cluster_deploys})

    def deploy_options_for(self, cluster: str) -> DeployOptions:
        """How to deploy to `cluster`: 403 when this server deploys nowhere, 404 naming the
        clusters it deploys to when not to that one, 409 naming the Secret when the cluster's
        connection is in a Secret that is gone or unusable now."""
        if not self.deploy_clusters:
            raise HTTPException(
                403,
                "deploy, rollback and uninstall are not enabled on this server (it was started "
                "without cluster access or with a read-only database)",
            )
        options = self.deploy_options if not cluster else self.cluster_deploys.get(cluster)
        if options is None:
            served = ", ".join(repr(c) if c else "'' (the default)" for c in self.deploy_clusters)
            named = f"cluster {cluster!r}" if cluster else "the default cluster (?cluster= empty)"
            raise HTTPException(404, f"{named} is not served here; served: {served}")
        if options.kubeconfig is not None:
            from helmguard.kube.config import held_connection
            from helmguard.kube.errors import KubeConfigError

            try:
                held_connection(options.kubeconfig)
            except KubeConfigError as exc:
                raise HTTPException(409, exc.explain()) from None
        return options

    def kube_for(self, cluster: str) -> KubeFactory | None:
        """How to connect to `cluster` ("" the default: the API's own factory, else its
        deploy options'); None when this server has no way to it (404 for an unserved one)."""
        if not cluster and self.kube_factory is not None:
            return self.kube_factory
        if not cluster and self.deploy_options is None:
            return None
        from helmguard.kube.client import connect

        options = self.deploy_options_for(cluster)
        return lambda: connect(options.kubeconfig, options.context)


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(_context)]


def _read(request: Request, context: Context) -> None:
    context.auth.read(request)


def _write(request: Request, context: Context) -> None:
    context.auth.write(request)


def _full_view(request: Request, context: Context) -> bool:
    return not context.auth.anonymous(request)


read_access = Depends(_read)
write_access = Depends(_write)
# True when the caller sent the right token: anonymous readers get less detail.
FullView = Annotated[bool, Depends(_full_view)]


async def recorded_release(store: Store, key: ReleaseKey) -> ReleaseRecord:
    """The stored release, or 404 naming where the known releases are listed."""
    release = await store.get_release(key)
    if release is None:
        if key.cluster:
            raise HTTPException(
                404,
                f"release {key.namespace}/{key.name} is not recorded on cluster "
                f"{key.cluster!r}; GET /api/releases?cluster={key.cluster} lists that "
                "cluster's releases, GET /api/clusters the clusters helmguard knows",
            )
        raise HTTPException(
            404,
            f"release {key} is not recorded; GET /api/releases lists the releases helmguard knows",
        )
    return release
