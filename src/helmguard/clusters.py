"""Registering and forgetting clusters, the one set of rules `helmguard cluster add|remove`
and POST/DELETE /api/clusters share.

A registration is checked before anything is written: the name is a DNS-1123 label, the
kubeconfig (a path, made absolute) is read by helmguard's own loader and must define the
context (default: its current-context, stored by name); the cluster need not answer. Or
the connection is in a Secret (`checked_secret_cluster`, kube/secretconfig.py) of the
cluster helmguard runs in, read now through its API: it must exist and describe a
connection; only its NAMESPACE/NAME (and the context asked for) is stored. A
cluster is forgotten only while the store holds none of its releases, unless
`forget_releases` (their stored history goes with it). Each refusal is a
`RegistrationError` subclass whose message names the problem.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helmguard.store.records import ClusterRecord, cluster_name_problem

if TYPE_CHECKING:
    from helmguard.kube.client import Kube
    from helmguard.kube.config import ClusterConfig
    from helmguard.store import Store


class RegistrationError(Exception):
    """A registration or removal refused, nothing written; the message says why."""


class BadRegistration(RegistrationError):
    """A name that is no DNS-1123 label, or a kubeconfig/context that cannot be read."""


class AlreadyRegistered(RegistrationError):
    pass


class NotRegistered(RegistrationError):
    pass


class ReleasesHeld(RegistrationError):
    """The store still holds releases of the cluster (and forget_releases was not given)."""


def checked_cluster(
    name: str, kubeconfig: str, context: str | None
) -> tuple[ClusterRecord, ClusterConfig]:
    """The record to store for cluster `name`, and the configuration read from the file."""
    from helmguard.kube.config import load_config
    from helmguard.kube.errors import KubeConfigError

    problem = cluster_name_problem(name)
    if problem is not None:
        raise BadRegistration(problem)
    path = Path(kubeconfig).expanduser().resolve()
    try:
        config = load_config(path, context)
    except KubeConfigError as exc:
        raise BadRegistration(exc.explain()) from None
    return ClusterRecord(name, str(path), config.target.context), config


async def checked_secret_cluster(
    name: str, secret: str, context: str | None, home: Callable[[], Awaitable[Kube]]
) -> tuple[ClusterRecord, ClusterConfig]:
    """The record to store for cluster `name` whose connection is in Secret `secret`
    (NAMESPACE/NAME) of the cluster `home` connects to, and the configuration read from it."""
    from helmguard.kube.errors import KubeConfigError
    from helmguard.kube.secretconfig import config_from_secret, secret_ref

    problem = cluster_name_problem(name)
    if problem is not None:
        raise BadRegistration(problem)
    try:
        namespace, secret_name = secret_ref(secret)
    except ValueError as exc:
        raise BadRegistration(str(exc)) from None
    body = await read_cluster_secret(home, namespace, secret_name)
    try:
        config = config_from_secret(body, secret, context)
    except KubeConfigError as exc:
        raise BadRegistration(exc.explain()) from None
    return ClusterRecord(name, "", context or "", secret=secret), config


async def read_cluster_secret(
    home: Callable[[], Awaitable[Kube]], namespace: str, name: str
) -> dict[str, Any]:
    """Secret NAMESPACE/NAME as the API server of `home` gives it; BadRegistration naming
    why not (no such Secret, no permission, no answer, no kubeconfig)."""
    from helmguard.kube.classifier import classify
    from helmguard.kube.errors import ApiError

    where = f"Secret {namespace}/{name}"
    try:
        kube = await home()
    except Exception as exc:
        raise BadRegistration(
            f"cannot read {where}: the cluster helmguard runs in cannot be reached: "
            f"{classify(exc).message}"
        ) from None
    try:
        body: dict[str, Any] = await kube.get_json(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except ApiError as exc:
        if exc.code == 404:
            raise BadRegistration(
                f"there is no {where} in the cluster helmguard runs in "
                f"({kube.config.target}); create it first"
            ) from None
        raise BadRegistration(
            f"cannot read {where} in the cluster helmguard runs in: {classify(exc).message}"
        ) from None
    except Exception as exc:
        raise BadRegistration(f"cannot read {where}: {classify(exc).message}") from None
    finally:
        await kube.aclose()
    return body


async def register(store: Store, record: ClusterRecord) -> None:
    """Store a registration `checked_cluster` made; AlreadyRegistered (naming the existing
    one) if the name is taken."""
    if not await store.add_cluster(record):
        existing = await store.get_cluster(record.name)
        where = f" ({existing.where})" if existing is not None else ""
        raise AlreadyRegistered(
            f"cluster {record.name!r} is already registered{where}; remove it first to change it"
        )


async def unregister(store: Store, name: str, *, forget_releases: bool = False) -> None:
    """Forget cluster `name` (with `forget_releases`, what the store holds of its releases)."""
    if await store.get_cluster(name) is None:
        names = [c.name for c in await store.list_clusters()]
        raise NotRegistered(
            f"cluster {name!r} is not registered; registered: {', '.join(names) or 'none'}"
        )
    held = await store.list_releases(name)
    if held and not forget_releases:
        shown = ", ".join(f"{r.key.namespace}/{r.key.name}" for r in held[:5])
        more = f" and {len(held) - 5} more" if len(held) > 5 else ""
        raise ReleasesHeld(
            f"the store holds {len(held)} release(s) of cluster {name!r} ({shown}{more}); "
            "uninstall them, or forget their stored history too (--forget-releases, "
            "?forget_releases=true)"
        )
    if not await store.remove_cluster(name, with_releases=forget_releases):
        raise NotRegistered(f"cluster {name!r} is not registered (removed meanwhile)")
