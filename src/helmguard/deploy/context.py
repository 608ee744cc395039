"""What a deploy tells the templates about the release: `.Release.Revision`, `.IsInstall`,
`.IsUpgrade`, decided from the release's records as `helm upgrade --install` decides them.

helm (pkg/cmd/upgrade.go, pkg/action/install.go and upgrade.go): no record, or a latest
revision uninstalled with --keep-history, is an install, rendered as revision 1 (the
install that replaces an uninstalled release still stores the next number); any other
history is an upgrade, rendered and stored as the latest revision + 1, whatever that
latest's status (a failed one included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from helmguard.deploy.release import RevisionManifest

if TYPE_CHECKING:
    from helmguard.chart.render import RenderRequest
    from helmguard.kube.client import Kube

_GONE = ("uninstalled",)  # pkg/cmd/upgrade.go isReleaseUninstalled


@dataclass(frozen=True)
class ReleaseContext:
    """The release as a deploy renders it; `operation` is whose hooks run."""

    revision: int  # .Release.Revision
    is_upgrade: bool  # .Release.IsUpgrade; .Release.IsInstall is its opposite

    @property
    def operation(self) -> str:
        return "upgrade" if self.is_upgrade else "install"


def release_context(history: Sequence[RevisionManifest]) -> ReleaseContext:
    """The context helm renders a `helm upgrade --install` of a release with `history`
    (its records, oldest first) in."""
    latest = history[-1] if history else None
    if latest is None or latest.status in _GONE:
        return ReleaseContext(1, is_upgrade=False)
    return ReleaseContext(latest.revision + 1, is_upgrade=True)


def rendered_as_deployed(
    request: RenderRequest, history: Sequence[RevisionManifest], lookup: str | None
) -> RenderRequest:
    """`request` rendered as its deploy over `history` renders it: the release context, and
    `lookup` (Kube.kubeconfig) reading the cluster, as helm's install and upgrade do."""
    context = release_context(history)
    return replace(request, is_upgrade=context.is_upgrade, revision=context.revision, lookup=lookup)


async def as_deployed(
    kube: Kube,
    request: RenderRequest,
    *,
    timeout: float,  # noqa: ASYNC109 - a deadline for retries
    forbidden: Callable[[str], None] | None = None,
) -> RenderRequest:
    """`request` as deploying it now would render it (`check` of an upgrade renders the
    upgrade): the release's records read from the cluster `kube` talks to. An identity
    that may not read them gets the install's context, and `forbidden` is told why."""
    import time

    from helmguard.deploy.cluster import Cluster
    from helmguard.deploy.history import read_history
    from helmguard.kube.errors import KubeError

    cluster = Cluster(kube, deadline=time.monotonic() + timeout)
    try:
        history = await read_history(cluster, request.namespace, request.release)
    except KubeError as exc:
        if exc.code != 403:
            raise
        history = []
        if forbidden is not None:
            forbidden(
                f"cannot read the records of release {request.namespace}/{request.release} "
                "(forbidden): rendered as its install (.Release.Revision 1)"
            )
    return rendered_as_deployed(request, history, await kube.kubeconfig())
