"""Releases helm installed, found by their release records and followed with no `manage`.

`HelmDiscovery(kube, store, served)` watches Helm's release records cluster-wide (Secrets
labelled `owner=helm`, and ConfigMaps for HELM_DRIVER=configmap) and keeps one store
release per Helm release that helm wrote: its revision is the latest deployed or failed
one (a pending-install when there is none yet), its inventory that revision's manifest.
A new revision (helm upgrade, rollback) records a new store revision, which the sync's
refresher loads like any other; once its records are gone (helm uninstall) the release
is forgotten. Releases helmguard deploys are its own: a revision whose record carries
helmguard's facts, or a store revision helmguard wrote at or after it, is left alone. When
helm writes a newer revision of a release helmguard deployed (`helm upgrade`, `helm
rollback`), that revision is followed like any helm revision; when helm uninstalls one
(its records gone, or the latest says uninstalled) whose last operation has finished and
did not itself remove it, it is forgotten as helmguard's own uninstall forgets it.
Releases registered with `manage` keep the members their selector names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from helmguard.deploy.release import (
    HELM_OWNER,
    PENDING_STATUSES,
    RECORD_OWNER_LABEL,
    decode_record,
    record_name,
)
from helmguard.kube.client import Kube
from helmguard.kube.discovery import ServedResources
from helmguard.kube.informer import DELETED, Informer
from helmguard.manifest import ObjectRef
from helmguard.store import InventoryItem, ReleaseKey, ReleaseRecord, RevisionRecord, Store
from helmguard.sync.releases import UNINSTALLED_STATUS

log = logging.getLogger(__name__)

DISCOVERED = "discovered"  # the plan key that marks a store revision this module wrote
_FOLLOWED = frozenset({"deployed", "failed"})
_RECORD_KINDS = ("Secret", "ConfigMap")
_UNSETTLED = frozenset({"running", "pending", "interrupted"})  # store revision outcomes


@dataclass(frozen=True)
class HelmRevision:
    """What one release record says, without its contents (no values, no Secret data)."""

    key: ReleaseKey
    revision: int
    status: str
    chart: str
    chart_version: str
    inventory: tuple[ObjectRef, ...]
    by_helmguard: bool  # the record carries helmguard's facts: helmguard wrote it
    record: str  # "Secret shop/sh.helm.release.v1.web.v2"


def summarize(body: dict[str, Any]) -> dict[str, Any]:
    """A release record reduced to its metadata and what it says (an informer transform).

    The record's data (user values, Secret values rendered into the manifest) is dropped
    here: only object keys, statuses and the chart's name and version are kept.
    """
    meta = body.get("metadata") or {}
    kept = {k: meta.get(k) for k in ("name", "namespace", "resourceVersion", "labels")}
    out: dict[str, Any] = {"kind": body.get("kind"), "metadata": kept}
    try:
        rev = decode_record(body)
    except ValueError as exc:
        log.warning("a Helm release record is unreadable: %s", exc)
        return out
    out["summary"] = {
        "release": rev.release,
        "namespace": rev.namespace,
        "revision": rev.revision,
        "status": rev.status,
        "chart": rev.chart,
        "chart_version": rev.chart_version,
        "inventory": [[r.group, r.kind, r.namespace, r.name] for r in rev.inventory],
        "by_helmguard": rev.facts,
    }
    return out


def revision_of(summary: Mapping[str, Any], kind: str, cluster: str = "") -> HelmRevision:
    """The HelmRevision of a `summarize`d record."""
    s = summary["summary"]
    return HelmRevision(
        key=ReleaseKey(str(s["namespace"]), str(s["release"]), cluster),
        revision=int(s["revision"]),
        status=str(s["status"]),
        chart=str(s["chart"]),
        chart_version=str(s["chart_version"]),
        inventory=tuple(ObjectRef(*ref) for ref in s["inventory"]),
        by_helmguard=bool(s["by_helmguard"]),
        record=f"{kind} {s['namespace']}/{record_name(str(s['release']), int(s['revision']))}",
    )


def followed(revisions: Iterable[HelmRevision]) -> HelmRevision | None:
    """The revision whose inventory is the release now, or None when helm has none to show.

    The latest deployed or failed revision (a pending upgrade has not replaced it yet); a
    pending-install when it is all there is; None once the release is uninstalled (records
    gone, or kept by --keep-history with the latest uninstalled), or if helmguard wrote it.
    """
    ordered = sorted(revisions, key=lambda r: r.revision)
    if not ordered or ordered[-1].status in ("uninstalled", "uninstalling"):
        return None
    done = [r for r in ordered if r.status in _FOLLOWED]
    chosen = done[-1] if done else ordered[-1] if ordered[-1].status in PENDING_STATUSES else None
    if chosen is None or chosen.by_helmguard:
        return None
    return chosen


def is_discovered(revision: RevisionRecord) -> bool:
    """Whether a store revision was recorded by discovery (not by a helmguard operation)."""
    return bool(revision.plan and revision.plan.get(DISCOVERED))


def _outcome(status: str) -> str:
    return "pending" if status in PENDING_STATUSES else status


def uninstalled(revisions: Iterable[HelmRevision]) -> bool:
    """Whether helm's records say the release is gone: none left, or the latest uninstalled
    by helm (helmguard's own `uninstall --keep-history` keeps the release in the store)."""
    latest = max(revisions, key=lambda r: r.revision, default=None)
    return latest is None or (latest.status == "uninstalled" and not latest.by_helmguard)


async def reconcile(
    store: Store, key: ReleaseKey, chosen: HelmRevision | None, *, gone: bool = False
) -> str | None:
    """Make the store follow what helm's records say of one release; what was done, if anything.

    `chosen` is the revision to follow (`followed`), `gone` whether the records say the
    release was uninstalled (`uninstalled`). Returns "recorded", "forgotten" or None
    (nothing to do, or the store's revision is helmguard's and at least as new).
    """
    # The release's row is read first: the forget below applies only if nothing wrote it
    # since (a helmguard deploy settling, or starting, meanwhile: its own process's writes).
    record = await store.get_release(key)
    revisions = await store.list_revisions(key)
    latest = revisions[-1] if revisions else None
    if latest is not None and latest.outcome == "registered":
        return None  # `helmguard manage`: the selector says what the release is
    ours = latest is None or is_discovered(latest)
    if chosen is None:
        # A release helmguard deployed and helm uninstalled (its records gone). One whose
        # last operation is in flight (helmguard's own uninstall records it running) or was
        # interrupted (recover settles it) is left alone.
        # helmguard's own last operation may have removed the release (an --atomic first
        # install that failed leaves no record, as helm's): its kept history is not helm's to
        # forget.
        theirs_gone = (
            gone
            and latest is not None
            and latest.finished_at is not None
            and latest.outcome not in _UNSETTLED
            and record is not None
            and record.status != UNINSTALLED_STATUS
        )
        if (
            record is not None
            and latest is not None
            and (ours or theirs_gone)
            and await store.delete_release(key, unchanged_since=record.updated_at)
        ):
            return "forgotten"
        return None
    if latest is not None and (
        latest.number > chosen.revision or (latest.number == chosen.revision and not ours)
    ):
        return None  # helmguard deployed this revision, or a newer one (in flight maybe)
    inventory = tuple(InventoryItem(ref) for ref in sorted(set(chosen.inventory)))
    outcome = _outcome(chosen.status)
    if (
        latest is not None
        and latest.number == chosen.revision
        and latest.outcome == outcome
        and latest.inventory == inventory
    ):
        return None
    now = datetime.now(UTC)
    await store.record_release(
        ReleaseRecord(key, chosen.chart, chosen.chart_version, chosen.revision, chosen.status),
        revision=RevisionRecord(
            release=key,
            number=chosen.revision,
            chart=chosen.chart,
            chart_version=chosen.chart_version,
            values_digest="",
            started_at=now,
            plan={DISCOVERED: "helm", "record": chosen.record, "status": chosen.status},
            outcome=outcome,
            finished_at=None if outcome == "pending" else now,
            inventory=inventory,
        ),
    )
    return "recorded"


class HelmDiscovery:
    """Informers on Helm's release records; the store follows the releases helm wrote."""

    def __init__(
        self,
        kube: Kube,
        store: Store,
        served: ServedResources,
        *,
        cluster: str = "",
        inactivity_timeout: float = 90.0,
        watch_timeout: float = 60.0,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.informers: list[Informer] = []
        # Per release, its records by (record kind, revision).
        self._records: dict[ReleaseKey, dict[tuple[str, int], HelmRevision]] = {}
        self._dirty: set[ReleaseKey] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for kind in _RECORD_KINDS:
            res = served.for_kind("", kind)
            if res is None or not {"list", "watch"} <= res.verbs:
                continue

            async def handle(event: str, body: dict[str, Any], kind: str = kind) -> None:
                self._on_record(kind, event, body)

            self.informers.append(
                Informer(
                    kube,
                    res,
                    handle,
                    label_selector=f"{RECORD_OWNER_LABEL}={HELM_OWNER}",
                    transform=summarize,
                    inactivity_timeout=inactivity_timeout,
                    watch_timeout=watch_timeout,
                )
            )

    async def start(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - a start deadline
        """List the records (each informer answers, or fails and retries on its own), then
        bring the store in line with them, releases uninstalled while nobody watched included.
        """
        for informer in self.informers:
            informer.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for informer in self.informers:
                    await informer.answered.wait()
        if all(i.synced.is_set() for i in self.informers):
            # Every record was listed: a discovered release with none left was uninstalled.
            # One query for every release's revisions: `reconcile` leaves those whose latest
            # revision helmguard wrote alone, so only the others are looked at one by one.
            revisions = await self.store.cluster_revisions(self.cluster)
            for release in await self.store.list_releases(self.cluster):
                stored = revisions.get(release.key)
                if release.key not in self._records and (not stored or is_discovered(stored[-1])):
                    self._dirty.add(release.key)
        await self._reconcile_dirty()
        self._task = asyncio.create_task(self._worker(), name="helm release discovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(i.stop() for i in self.informers))

    def _on_record(self, kind: str, event: str, body: dict[str, Any]) -> None:
        if "summary" not in body:
            return  # unreadable: warned about when it was read
        rev = revision_of(body, kind, self.cluster)
        records = self._records.setdefault(rev.key, {})
        if event == DELETED:
            records.pop((kind, rev.revision), None)
            if not records:
                del self._records[rev.key]
        else:
            records[(kind, rev.revision)] = rev
        self._dirty.add(rev.key)
        self._wake.set()

    async def _reconcile_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for key in sorted(dirty):
            records = (self._records.get(key) or {}).values()
            try:
                done = await reconcile(
                    self.store, key, followed(records), gone=uninstalled(records)
                )
            except Exception:
                log.exception("following helm's release %s failed", key)
                self._dirty.add(key)
                continue
            if done is not None:
                log.info("helm release %s: %s", key, done)

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._reconcile_dirty()
            if self._dirty:  # a write failed: try again shortly
                await asyncio.sleep(1.0)
                self._wake.set()
