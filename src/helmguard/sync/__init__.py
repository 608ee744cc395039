"""The watch-based sync: informers for managed releases keep their stored statuses true.

sync = Sync(kube, store); await sync.start()   # lists, then watches; writes transitions
await register_release(store, key, selector)    # what `helmguard manage` does
"""

from helmguard.sync.engine import Sync, SyncStats
from helmguard.sync.index import ClusterIndex
from helmguard.sync.releases import (
    ManagedRelease,
    default_selector,
    load_release,
    load_releases,
    register_release,
)
from helmguard.sync.selector import Selector, SelectorError, parse_selector

__all__ = [
    "ClusterIndex",
    "ManagedRelease",
    "Selector",
    "SelectorError",
    "Sync",
    "SyncStats",
    "default_selector",
    "load_release",
    "load_releases",
    "parse_selector",
    "register_release",
]
