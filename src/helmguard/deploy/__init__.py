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

from helmguard.deploy.config import Configuration, DeployOptions
from helmguard.deploy.history import read_history
from helmguard.deploy.install import deploy, plan
from helmguard.deploy.lock import ReleaseLocked
from helmguard.deploy.oplog import LogRecord, OperationLog
from helmguard.deploy.release import Applied, RevisionManifest
from helmguard.deploy.release_test import release_test
from helmguard.deploy.result import Result
from helmguard.deploy.rollback import rollback
from helmguard.deploy.settle import settle
from helmguard.deploy.uninstall import uninstall

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
    "release_test",
    "rollback",
    "settle",
    "uninstall",
]
