"""Reading releases from their Helm records: `list`, `history` and `get`, as helm shows them.

Records are read from the cluster (Helm's storage), so releases helm installed and
releases helmguard deployed are listed alike. Nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
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
from helmguard.kube.errors import KubeError

# helm (v4) list's status filters; without any, every status is listed.
LIST_FILTERS = {
    "deployed": frozenset({"deployed"}),
    "failed": frozenset({"failed"}),
    "pending": PENDING_STATUSES,
    "uninstalled": frozenset({"uninstalled"}),
    "superseded": frozenset({"superseded"}),
    "uninstalling": frozenset({"uninstalling"}),
}


_GO_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def go_time_string(value: str) -> str:
    """How Go's time.Time.String() prints a record's RFC 3339 time (what `helm list` shows)."""
    match = _GO_TIME.fullmatch(value or "")
    if match is None or value.startswith("0001-01-01"):
        return "-"  # helm list's word for a revision never deployed
    day, clock, frac, zone = match.groups()
    frac = (frac or "").rstrip("0")
    offset = "+0000" if zone == "Z" else zone.replace(":", "")
    name = "UTC" if zone == "Z" else offset
    return f"{day} {clock}{'.' + frac if frac else ''} {offset} {name}"


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


def listed(rev: RevisionManifest) -> ListedRelease:
    return ListedRelease(
        rev.release,
        rev.namespace,
        rev.revision,
        go_time_string(str(rev.info.get("last_deployed") or "")),
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


def select_releases(
    revisions: Sequence[RevisionManifest],
    *,
    statuses: frozenset[str] | None = None,
    name_filter: str | None = None,
) -> list[ListedRelease]:
    """Helm's list: the latest revision of each release, filtered, sorted by name.

    `statuses` None keeps every status. Raises ValueError for a bad filter.
    """
    pattern = name_pattern(name_filter)
    latest: dict[tuple[str, str], RevisionManifest] = {}
    for rev in revisions:
        key = (rev.namespace, rev.release)
        if key not in latest or rev.revision > latest[key].revision:
            latest[key] = rev
    out = [
        listed(rev)
        for rev in latest.values()
        if (statuses is None or rev.status in statuses)
        and (pattern is None or pattern.search(rev.release))
    ]
    return sorted(out, key=lambda r: (r.name, r.namespace))


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
