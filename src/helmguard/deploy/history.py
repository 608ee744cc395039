"""A release's records on the cluster, as Helm keeps them: read every revision, write one."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.oplog import OperationLog, Step
from helmguard.deploy.release import (
    HELM_OWNER,
    LEGACY_OWNER,
    RECORD_NAME_LABEL,
    RECORD_OWNER_LABEL,
    RevisionManifest,
    decode_record,
    encode_record,
    record_kind,
    record_name,
)
from helmguard.kube.errors import KubeError


async def read_history(
    cluster: Cluster, namespace: str, name: str, *, kind: str | None = None
) -> list[RevisionManifest]:
    """Every stored revision of the release, oldest first ([] when the namespace is empty).

    Helm's records in `kind` (Secret or ConfigMap; default: HELM_DRIVER's), whoever wrote
    them, and helmguard's legacy records for revisions that have no Helm record yet.
    """
    kind = kind or record_kind()
    selector = f"{RECORD_NAME_LABEL}={name}"
    items = await cluster.list(
        "", kind, namespace, label_selector=f"{RECORD_OWNER_LABEL}={HELM_OWNER},{selector}"
    )
    legacy = await cluster.list(
        "", "Secret", namespace, label_selector=f"{RECORD_OWNER_LABEL}={LEGACY_OWNER},{selector}"
    )
    found: dict[int, RevisionManifest] = {}
    for item in [*legacy, *items]:
        with contextlib.suppress(ValueError):
            rev = decode_record(item)
            found[rev.revision] = rev
    return [found[r] for r in sorted(found)]


def name_refusal(require: str, history: Sequence[RevisionManifest], name: str) -> str | None:
    """Why `require` (DeployOptions.require) refuses release `name` with `history`, in helm's
    words, or None: install wants no record of the name at all, upgrade (without --install)
    one whose latest revision is not uninstalled."""
    latest = history[-1] if history else None
    if require == "install" and latest is not None:
        return (
            f"cannot reuse a name that is still in use: release {name} has revision "
            f"{latest.revision} ({latest.status or latest.outcome}); upgrade it (helmguard "
            f"upgrade {name} CHART) or uninstall it first"
        )
    if require == "upgrade" and (
        latest is None or latest.status in ("uninstalled", "uninstalling")
    ):
        return (
            f'"{name}" has no deployed releases; install it (helmguard upgrade --install '
            f"{name} CHART, or helmguard deploy)"
        )
    return None


class NoSuchRevision(LookupError):
    """The release has no revision to roll back to (the message names what is stored)."""


def rollback_target(
    namespace: str, name: str, history: Sequence[RevisionManifest], revision: int | None
) -> RevisionManifest:
    """The revision to roll back to: `revision`, or (None, 0) the latest's number minus one,
    whatever its status, as helm's prepareRollback."""
    if not history:
        raise NoSuchRevision(f"release {namespace}/{name} has no stored revisions on the cluster")
    wanted = revision or history[-1].revision - 1
    found = [h for h in history if h.revision == wanted]
    if not found and wanted == 0:
        raise NoSuchRevision(
            f"release {namespace}/{name} has only revision {history[-1].revision}: no previous "
            'one to roll back to (helm: "release has no 0 version")'
        )
    if not found:
        known = ", ".join(str(h.revision) for h in history)
        raise NoSuchRevision(
            f"release {namespace}/{name} has no revision {wanted} (stored: {known}; helm: "
            f'"release has no {wanted} version")'
        )
    return found[0]


async def write_record(
    cluster: Cluster, rev: RevisionManifest, log: OperationLog, kind: str, *, new: bool = False
) -> None:
    """Store `rev` as Helm does: create a new revision's record, replace an existing one.

    Raises ReleaseBusy when a new revision's record already exists: another client (helm,
    or helmguard without the Lease) is writing the same release.
    """
    body = encode_record(rev, kind)
    try:
        if new:
            await cluster.create(body)
        else:
            await cluster.replace(body)
    except KubeError as err:
        if new and err.code == 409:
            raise ReleaseBusy(
                f"release {rev.namespace}/{rev.release}: revision {rev.revision} was just "
                "written by another client; another operation (install/upgrade/rollback) is "
                "in progress",
                fix="Wait for it to finish (helm status / helmguard history shows it), then retry.",
            ) from None
        if not new and err.code == 404:
            await write_record(cluster, rev, log, kind, new=True)
            return
        log.emit(
            Step.RECORD_FAILED,
            f"could not store revision {rev.revision} as {kind} "
            f"{record_name(rev.release, rev.revision)}: {err.message}",
            level="warning",
        )


class ReleaseBusy(KubeError):
    """The release's latest revision is pending: another operation is writing it."""
