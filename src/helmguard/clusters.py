"""Registering and forgetting clusters, the one set of rules `helmguard cluster add|remove`
and POST/DELETE /api/clusters share.

A registration is checked before anything is written: the name is a DNS-1123 label, the
kubeconfig (a path, made absolute) is read by helmguard's own loader and must define the
context (default: its current-context, stored by name); the cluster need not answer. A
cluster is forgotten only while the store holds none of its releases, unless
`forget_releases` (their stored history goes with it). Each refusal is a
`RegistrationError` subclass whose message names the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from helmguard.store.records import ClusterRecord, cluster_name_problem

if TYPE_CHECKING:
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


async def register(store: Store, record: ClusterRecord) -> None:
    """Store a registration `checked_cluster` made; AlreadyRegistered (naming the existing
    one) if the name is taken."""
    if not await store.add_cluster(record):
        existing = await store.get_cluster(record.name)
        where = (
            f" (context {existing.context!r} of {existing.kubeconfig})"
            if existing is not None
            else ""
        )
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
