"""Options and the runner the store-reading commands and `serve` share."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.cli.kube_flags import connection_with_flags, kube_flag_options
from helmguard.store.env import ENV_VAR

if TYPE_CHECKING:
    from helmguard.store import ClusterRecord

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option(
    "--db",
    "url",
    envvar=ENV_VAR,
    metavar="URL",
    help=f"SQLite file, sqlite:///PATH or postgresql+asyncpg://… (default: ${ENV_VAR}, "
    "else helmguard.db in the user data directory).",
)
namespace_option = click.option(
    "-n", "--namespace", default="default", show_default=True, help="The release's namespace."
)
kubeconfig_option = click.option(
    "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)."
)
context_option = click.option("--kube-context", "context", help="kubeconfig context to use.")
# The namespace of the cluster in use whose Secrets labelled helmguard.io/cluster=true are
# clusters: `serve` syncs them, and `--cluster NAME` finds one that no registration names.
SECRETS_NAMESPACE_ENV = "HELMGUARD_CLUSTER_SECRETS_NAMESPACE"

_cluster_name_option = click.option(
    "--cluster",
    "cluster_name",
    metavar="NAME",
    help="A cluster registered with `helmguard cluster add` (in the store: --db, else "
    "$HELMGUARD_DB or the default one): its kubeconfig and context (or its Secret, read "
    "through the kubeconfig context in use), and its releases in the store. Default: the "
    "kubeconfig context in use, the store's default cluster.",
)


@dataclass(frozen=True)
class ClusterTarget:
    """Where a command goes: kubeconfig and context to connect with, the store's cluster key."""

    kubeconfig: str | None
    context: str | None
    cluster: str  # "" is the default cluster: the kubeconfig context in use


def resolve_cluster(
    name: str | None,
    kubeconfig: str | None,
    context: str | None,
    url: str | None,
    *,
    connecting: bool = True,
) -> ClusterTarget:
    """`--cluster NAME` (looked up in the store's registry) or --kubeconfig/--kube-context.

    Both at once, or a name not registered, is bad input: exit 2 with the reason. A cluster
    registered by a Secret is read from it now (unless not `connecting`: the command reads
    only the store), through the kubeconfig context in use, the cluster helmguard runs in:
    the target's `kubeconfig` is the name its connection is held under in this process.
    """
    if name is None:
        return ClusterTarget(kubeconfig, context, "")
    if kubeconfig is not None or context is not None:
        given = "--kubeconfig" if kubeconfig is not None else "--kube-context"
        click.echo(
            f"Error: --cluster {name} and {given} exclude each other: a registered cluster "
            "brings its own kubeconfig and context (helmguard cluster list)",
            err=True,
        )
        raise SystemExit(2)
    from helmguard.store import StoreError, open_store

    async def look_up() -> tuple[Any, list[str]]:
        async with await open_store(url, read_only=True) as store:
            return await store.get_cluster(name), [c.name for c in await store.list_clusters()]

    try:
        found, names = asyncio.run(look_up())
    except StoreError as exc:
        click.echo(f"Error: --cluster {name}: no cluster registry to read: {exc}", err=True)
        raise SystemExit(2) from None
    if found is None:
        discovered, looked = _discovered(name, connecting=connecting)
        if discovered is not None:
            return discovered
        known = ", ".join(names) if names else "none (helmguard cluster add NAME --kubeconfig …)"
        nor = (
            f"; no Secret labelled helmguard.io/cluster=true in namespace {looked} names it"
            if looked
            else ""
        )
        click.echo(f"Error: cluster {name!r} is not registered; registered: {known}{nor}", err=True)
        raise SystemExit(2)
    if found.secret:
        if not connecting:
            return ClusterTarget(None, None, found.name)
        return ClusterTarget(_held_secret_connection(found), None, found.name)
    return ClusterTarget(found.kubeconfig, found.context, found.name)


def pod_namespace() -> str:
    """The namespace of the pod helmguard runs in ("" when it is not in a pod)."""
    from helmguard.kube.errors import KubeConfigError
    from helmguard.kube.incluster import config

    try:
        found = config(os.environ)
    except KubeConfigError:
        return ""
    return found.target.namespace if found is not None else ""


def _discovered(name: str, *, connecting: bool) -> tuple[ClusterTarget | None, str]:
    """Cluster `name` as serve discovers it: the Secret labelled helmguard.io/cluster=true
    that names it, in the cluster-secrets namespace of the cluster in use (its connection
    held, when `connecting`); with the namespace looked in ("" none: not in a pod and
    $HELMGUARD_CLUSTER_SECRETS_NAMESPACE unset). Exit 2 naming why it cannot be looked up."""
    namespace = os.environ.get(SECRETS_NAMESPACE_ENV) or pod_namespace()
    if not namespace:
        return None, ""
    from helmguard.kube.client import connect
    from helmguard.kube.config import hold_connection
    from helmguard.kube.errors import KubeError
    from helmguard.kube.secretconfig import config_from_secret, held_name
    from helmguard.sync.secret_discovery import find_discovered

    async def look() -> Any:
        async with await connect(None, None) as kube:
            return await find_discovered(kube, namespace, name)

    try:
        secret = asyncio.run(look())
        if secret is None:
            return None, namespace
        ref = f"{namespace}/{secret['metadata']['name']}"
        config = config_from_secret(secret, ref)
    except KubeError as exc:
        click.echo(
            f"Error: cluster {name!r} is not registered, and the cluster Secrets in namespace "
            f"{namespace} cannot be used: {exc.explain()}",
            err=True,
        )
        raise SystemExit(2) from None
    if not connecting:
        return ClusterTarget(None, None, name), namespace
    held = held_name(name, ref)
    hold_connection(held, lambda: config)
    return ClusterTarget(held, None, name), namespace


def _held_secret_connection(found: ClusterRecord) -> str:
    """Read registered cluster `found`'s Secret now and hold the connection it describes;
    the name it is held under. Exit 2 naming the Secret when it cannot be read or used."""
    from helmguard.clusters import BadRegistration, checked_secret_cluster
    from helmguard.kube.client import connect
    from helmguard.kube.config import hold_connection
    from helmguard.kube.secretconfig import held_name

    try:
        _, config = asyncio.run(
            checked_secret_cluster(
                found.name, found.secret, found.context or None, lambda: connect(None, None)
            )
        )
    except BadRegistration as exc:
        click.echo(f"Error: cluster {found.name!r}: {exc}", err=True)
        raise SystemExit(2) from None
    name = held_name(found.name, found.secret)
    hold_connection(name, lambda: config)
    return name


def _targeting(command: F, *, keyed: bool) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        target = resolve_cluster(
            kwargs.pop("cluster_name"), kwargs["kubeconfig"], kwargs["context"], kwargs.get("url")
        )
        kubeconfig, context = connection_with_flags(target.kubeconfig, target.context, kwargs)
        kwargs.update(kubeconfig=kubeconfig, context=context)
        if keyed:
            kwargs["cluster"] = target.cluster
        return command(*args, **kwargs)

    decorated: Callable[..., Any] = kube_flag_options(wrapper)
    for option in (_cluster_name_option, context_option, kubeconfig_option):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]


def target_options(command: F) -> F:
    """--kubeconfig, --kube-context and --cluster on a command that connects to a cluster
    and keys what it stores by cluster.

    The command receives `kubeconfig` and `context` resolved (a registered cluster's own),
    and `cluster`, the key of its releases in the store; its --db, if it has one, is the
    store the registry is read from.
    """
    return _targeting(command, keyed=True)


def connection_options(command: F) -> F:
    """As `target_options`, for a command that only reads the cluster (no `cluster` key)."""
    return _targeting(command, keyed=False)


def cluster_option(command: F) -> F:
    """--cluster on a command that reads or writes only the store: it receives `cluster`,
    the store's key of the registered cluster named ("" the default cluster)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = kwargs.pop("cluster_name")
        target = resolve_cluster(name, None, None, kwargs.get("url"), connecting=False)
        kwargs["cluster"] = target.cluster
        return command(*args, **kwargs)

    return _cluster_name_option(wrapper)  # type: ignore[return-value]


def run_async(coro: Awaitable[T]) -> T:
    """Run a coroutine; turn the errors a user can cause into one-line messages."""
    from helmguard.kube.errors import KubeError
    from helmguard.store.errors import StoreError
    from helmguard.sync.selector import SelectorError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (StoreError, SelectorError) as exc:
        raise click.ClickException(str(exc)) from None
    except KubeError as exc:
        raise click.ClickException(exc.explain()) from None
