"""Reading releases from their Helm records: `list`, `history` and `get`, as helm shows them.

Records are read from the cluster (Helm's storage), so releases helm installed and
releases helmguard deployed are listed alike. Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.history import read_history
from helmguard.deploy.release import (
    HELM_OWNER,
    PENDING_STATUSES,
    RECORD_OWNER_LABEL,
    RevisionManifest,
    decode_record,
    record_kind,
)
from helmguard.gotime import STRING_LAYOUT, format_time
from helmguard.kube.errors import KubeError
from helmguard.sync.selector import Selector

# helm (v4) list's status filters; without any, every status is listed.
LIST_FILTERS = {
    "deployed": frozenset({"deployed"}),
    "failed": frozenset({"failed"}),
    "pending": PENDING_STATUSES,
    "uninstalled": frozenset({"uninstalled"}),
    "superseded": frozenset({"superseded"}),
    "uninstalling": frozenset({"uninstalling"}),
}


def go_time_string(value: str) -> str:
    """How Go's time.Time.String() prints a record's RFC 3339 time (what `helm list` shows);
    "-" for a revision never deployed, as helm list prints it."""
    return format_time(value, STRING_LAYOUT)


@dataclass(frozen=True)
class ListedRelease:
    """One line of `helm list`: a release's latest revision."""

    name: str
    namespace: str
    revision: int
    updated: str
    status: str
    chart: str
    app_version: str

    def to_json(self) -> dict[str, Any]:
        # helm list -o json: the revision is a string there.
        return {
            "name": self.name,
            "namespace": self.namespace,
            "revision": str(self.revision),
            "updated": self.updated,
            "status": self.status,
            "chart": self.chart,
            "app_version": self.app_version,
        }


def chart_label(rev: RevisionManifest) -> str:
    """`<chart>-<version>`, as helm list and history print the chart."""
    return f"{rev.chart}-{rev.chart_version}"


def listed(rev: RevisionManifest, time_format: str = "") -> ListedRelease:
    """The list line of `rev`, its time as Go's layout `time_format` writes it (helm list
    --time-format; "": Go's time.Time.String())."""
    return ListedRelease(
        rev.release,
        rev.namespace,
        rev.revision,
        format_time(str(rev.info.get("last_deployed") or ""), time_format or STRING_LAYOUT),
        rev.status,
        chart_label(rev),
        rev.app_version,
    )


def name_pattern(name_filter: str | None) -> re.Pattern[str] | None:
    """`--filter` as a regular expression (None: no filter); ValueError naming a bad one."""
    if not name_filter:
        return None
    try:
        return re.compile(name_filter)
    except re.error as exc:
        raise ValueError(f"--filter {name_filter!r} is not a regular expression: {exc}") from None


def recorded_time(value: str) -> datetime:
    """A record's RFC 3339 time (Go writes nanoseconds; whole microseconds are kept); Go's
    zero time, in UTC, when the record has none or not one that reads."""
    try:
        return datetime.fromisoformat(value) if value else _ZERO_TIME
    except ValueError:
        return _ZERO_TIME


_ZERO_TIME = datetime.min.replace(tzinfo=UTC)  # Go's zero time.Time


def _deployed_at(rev: RevisionManifest) -> int:
    """The revision's last_deployed in whole seconds (Go's Unix(), what helm sorts by)."""
    return int(recorded_time(str(rev.info.get("last_deployed") or "")).timestamp())


def select_releases(
    revisions: Sequence[RevisionManifest],
    *,
    statuses: frozenset[str] | None = None,
    name_filter: str | None = None,
    by_date: bool = False,
    reverse: bool = False,
    limit: int = 256,
    offset: int = 0,
    selector: Selector | None = None,
    time_format: str = "",
) -> list[ListedRelease]:
    """Helm's list (pkg/action/list.go): the latest revision of each release, filtered (by
    status, then by `selector` on the record's labels), sorted by name (`reverse`:
    descending), or with `by_date` by last deployed, oldest first (`reverse`: newest
    first), then `offset` skipped and at most `limit` kept (0: all); times as `listed`.

    `statuses` None keeps every status; only superseded: every superseded revision (no
    latest revision ever is one). Raises ValueError for a bad filter.
    """
    pattern = name_pattern(name_filter)
    chosen = [r for r in revisions if pattern is None or pattern.search(r.release)]
    if statuses != LIST_FILTERS["superseded"]:
        latest: dict[tuple[str, str], RevisionManifest] = {}
        for rev in chosen:
            key = (rev.namespace, rev.release)
            if key not in latest or rev.revision > latest[key].revision:
                latest[key] = rev
        chosen = list(latest.values())
    kept = [r for r in chosen if statuses is None or r.status in statuses]
    if selector is not None:
        kept = [r for r in kept if selector.matches(r.record_labels)]
    kept.sort(key=lambda r: (r.release, r.namespace))
    if by_date:
        kept.sort(key=_deployed_at)  # stable: the name breaks ties, as helm's sort does
    if reverse:
        kept.reverse()
    end = len(kept) if limit <= 0 else offset + limit
    return [listed(r, time_format) for r in kept[offset:end]]


async def all_revisions(cluster: Cluster, namespace: str | None) -> list[RevisionManifest]:
    """Every Helm record in `namespace` (None: all namespaces), decoded; unreadable skipped."""
    items = await cluster.list(
        "", record_kind(), namespace or "", label_selector=f"{RECORD_OWNER_LABEL}={HELM_OWNER}"
    )
    out = []
    for item in items:
        try:
            out.append(decode_record(item))
        except ValueError:
            continue
    return out


async def revision_of(
    cluster: Cluster, namespace: str, name: str, revision: int | None = None
) -> RevisionManifest:
    """A release's revision (default: the latest); KubeError naming what exists if absent."""
    history = await read_history(cluster, namespace, name)
    if not history:
        raise KubeError(
            f"release {namespace}/{name} not found: no release records in namespace {namespace}.",
            fix="Check the release name and -n NAMESPACE (helm list -A / helmguard list -A).",
        )
    if revision is None:
        return history[-1]
    for rev in history:
        if rev.revision == revision:
            return rev
    raise KubeError(
        f"release {namespace}/{name} has no revision {revision} "
        f"(stored: {', '.join(str(h.revision) for h in history)}).",
        fix="Pick one of the stored revisions (helmguard history RELEASE).",
    )


def history_row(rev: RevisionManifest) -> dict[str, Any]:
    """One entry of `helm history -o json`."""
    row: dict[str, Any] = {"revision": rev.revision}
    updated = str(rev.info.get("last_deployed") or "")
    if updated and not updated.startswith("0001-01-01"):
        row["updated"] = updated
    row.update(status=rev.status, chart=chart_label(rev), app_version=rev.app_version)
    if rev.info.get("rollback_revision"):
        row["rollback_revision"] = int(rev.info["rollback_revision"])
    row["description"] = rev.description
    return row
