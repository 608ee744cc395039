"""Names a package exports, imported from their modules on first use (PEP 562).

A package whose `__init__` imported every module it re-exports would make importing any one
of its modules (`helmguard.deploy.oplog`, `helmguard.sync.look`) pay for all of them: the
store's SQLAlchemy, the sync engine, the deploy executor. With

    __getattr__ = exports(__name__, {"Store": "store", "REDACTED": "helmguard.redact"})

`from helmguard.store import Store` imports `helmguard.store.store` then, and only then.
A module given without a dot is the package's own submodule. The package keeps its
`TYPE_CHECKING` imports of the same names for type checkers and readers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """The module `__getattr__` of `package`: each name in `names` from its module."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if "." in module else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        setattr(importlib.import_module(package), name, value)  # found directly next time
        return value

    return __getattr__
