"""The watch-based sync: informers for managed releases keep their stored statuses true.

sync = Sync(kube, store); await sync.start()   # lists, then watches; writes transitions
await register_release(store, key, selector)    # what `helmguard manage` does
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from helmguard.lazy import exports

if TYPE_CHECKING:
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

# Loaded on first use (PEP 562): `helmguard.sync.look` (what a deploy's wait reads) does not
# import the sync engine, its store and its metrics.
_EXPORTS = {
    "ClusterIndex": "index",
    "ManagedRelease": "releases",
    "Selector": "selector",
    "SelectorError": "selector",
    "Sync": "engine",
    "SyncStats": "engine",
    "default_selector": "releases",
    "load_release": "releases",
    "load_releases": "releases",
    "parse_selector": "selector",
    "register_release": "releases",
}

__getattr__ = exports(__name__, _EXPORTS)

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
