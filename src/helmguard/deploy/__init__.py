"""Executing plans: server-side apply in gated waves, wait, prune, atomic rollback, uninstall.

Library actions (the CLI and the HTTP API call these, never each other):

- `plan(rendered, operation=...) -> Plan`
- `await deploy(request, options, store=..., listeners=...) -> Result`
- `await rollback(namespace, name, revision, options, ...) -> Result`
- `await uninstall(namespace, name, options, ...) -> Result`
- `await release_test(namespace, name, options, ...) -> Result`
- `await settle(namespace, name, options, ...) -> Result` (what a dead process left: interrupted)
"""

from helmguard.deploy.actions import (
    DeployOptions,
    Result,
    deploy,
    plan,
    read_history,
    release_test,
    rollback,
    settle,
    uninstall,
)
from helmguard.deploy.lock import ReleaseLocked
from helmguard.deploy.oplog import LogRecord, OperationLog
from helmguard.deploy.release import Applied, RevisionManifest

__all__ = [
    "Applied",
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
