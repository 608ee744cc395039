"""Executing plans: server-side apply in gated waves, wait, prune, atomic rollback, uninstall.

Library actions, one module each (the CLI and the HTTP API call these, never each other).
Each takes a `Configuration` (cluster connection, store, clock, log listeners; `config.py`)
built once by its caller, or builds one from the options' kubeconfig and `store=`:

- `plan(rendered, operation=...) -> Plan` (install.py)
- `await deploy(request, options, config=...) -> Result` (install.py: install or upgrade)
- `await rollback(namespace, name, revision, options, config=...) -> Result` (rollback.py)
- `await uninstall(namespace, name, options, config=...) -> Result` (uninstall.py)
- `await release_test(namespace, name, options, config=...) -> Result` (release_test.py)
- `await settle(namespace, name, options, config=...) -> Result` (settle.py: what a dead
  process left, marked interrupted)

Shared by them: `run.py` (the Lease, history and store of one operation), `apply.py` (the
executor: apply a revision, atomic restore), `history.py` (release records on the cluster),
`values.py` (Helm's upgrade values), `result.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from helmguard.lazy import exports

if TYPE_CHECKING:
    from helmguard.deploy.config import Configuration, DeployOptions
    from helmguard.deploy.history import read_history
    from helmguard.deploy.install import deploy, plan
    from helmguard.deploy.lock import ReleaseLocked
    from helmguard.deploy.oplog import LogRecord, OperationLog
    from helmguard.deploy.release import Applied, RevisionManifest
    from helmguard.deploy.result import Result

# Loaded on first use (PEP 562): `helmguard.deploy.oplog` or `.release` alone stays light to
# import; the executor, the sync's looks and the store come with the first action named.
# `rollback`, `uninstall`, `release_test` and `settle` share their module's name, which the
# import system binds on the package once the module is loaded: import them from there.
_EXPORTS = {
    "Applied": "release",
    "Configuration": "config",
    "DeployOptions": "config",
    "LogRecord": "oplog",
    "OperationLog": "oplog",
    "ReleaseLocked": "lock",
    "Result": "result",
    "RevisionManifest": "release",
    "deploy": "install",
    "plan": "install",
    "read_history": "history",
}

__getattr__ = exports(__name__, _EXPORTS)

__all__ = [
    "Applied",
    "Configuration",
    "DeployOptions",
    "LogRecord",
    "OperationLog",
    "ReleaseLocked",
    "Result",
    "RevisionManifest",
    "deploy",
    "plan",
    "read_history",
]
