"""The object a Kubernetes message names as missing or exhausted, in the cluster's own words.

One table for every reader: the API server's refusals (kube/errors.py classifies them)
and the controllers' conditions and Events (the status rules read them). Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection

from helmguard.manifest import ObjectRef

# (pattern, group, kind); a pattern with two groups names (namespace, name), else the name.
_CAUSE_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"error looking up service account ([^/\s]+)/([^:\s]+)"), "", "ServiceAccount"),
    (re.compile(r'serviceaccount "([^"]+)" not found'), "", "ServiceAccount"),
    (re.compile(r'configmap "([^"]+)" not found'), "", "ConfigMap"),
    (re.compile(r'secret "([^"]+)" not found'), "", "Secret"),
    (re.compile(r'persistentvolumeclaim "([^"]+)" not found'), "", "PersistentVolumeClaim"),
    (re.compile(r"exceeded quota: ([^,\s]+)"), "", "ResourceQuota"),
    (
        re.compile(r'storageclass\.storage\.k8s\.io "([^"]+)" not found'),
        "storage.k8s.io",
        "StorageClass",
    ),
    (
        re.compile(r'priorityclass\.scheduling\.k8s\.io "([^"]+)" not found'),
        "scheduling.k8s.io",
        "PriorityClass",
    ),
    # The admission plugins' wording of the same two refusals.
    (
        re.compile(r"no PriorityClass with name (\S+) was found"),
        "scheduling.k8s.io",
        "PriorityClass",
    ),
    (re.compile(r'RuntimeClass "([^"]+)" not found'), "node.k8s.io", "RuntimeClass"),
)

_CLUSTER_SCOPED_CAUSES = frozenset({"StorageClass", "PriorityClass", "RuntimeClass"})


@functools.lru_cache(maxsize=4096)  # the same messages recur on every watch event
def cause_from_message(
    message: str, namespace: str, kinds: Collection[str] | None = None
) -> ObjectRef | None:
    """The object a Kubernetes error message says is missing or exhausted, if it names one.

    `kinds` limits the answer to those kinds (hashable, e.g. a frozenset: results are cached).
    """
    for pattern, group, kind in _CAUSE_PATTERNS:
        if kinds is not None and kind not in kinds:
            continue
        match = pattern.search(message)
        if match is None:
            continue
        groups = match.groups()
        if len(groups) == 2:
            return ObjectRef(group, kind, groups[0], groups[1])
        ns = "" if kind in _CLUSTER_SCOPED_CAUSES else namespace
        return ObjectRef(group, kind, ns, groups[0])
    return None
