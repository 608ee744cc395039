"""A registered cluster whose connection is in a Secret of the cluster serve runs in.

`SecretCluster` watches that one Secret (an informer on its name, through the API server
of the cluster serve runs in: `home`) and runs the cluster's sync (`runner(config)`: a
`ClusterSupervisor`, or an `ElectedSupervisor` with --leader-elect) with the connection the
Secret describes (kube/secretconfig.py). A changed connection (a rotated token, a new CA)
stops that runner and starts one with the new connection: used within a watch event, no
restart of serve. A deleted Secret, or one that describes no usable connection, stops
the runner and stores the cluster's releases Unknown (ClusterUnreachable) with the reason,
naming the Secret (one write, whichever replicas see it: `mark_unreachable_once`;
those already Unknown are left as they are); readiness names it past `grace`. While the home
cluster cannot be watched, the runner goes on with the connection it has (the informer
re-lists when it is back, so a Secret deleted meanwhile is seen then).

The Secret's contents live in this process only: the store holds its NAMESPACE/NAME.
`connection()` is the connection in use (serve holds it for the API's deploys).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from helmguard.kube.client import Kube
from helmguard.kube.config import ClusterConfig
from helmguard.kube.discovery import APIResource
from helmguard.kube.errors import KubeConfigError
from helmguard.kube.informer import DELETED, Connectivity, Informer
from helmguard.kube.secretconfig import config_from_secret, secret_ref
from helmguard.store import Store, StoreError
from helmguard.sync.replica import ElectedSupervisor
from helmguard.sync.supervisor import (
    GRACE_SECONDS,
    ClusterSupervisor,
    Readiness,
    mark_unreachable_once,
)

log = logging.getLogger(__name__)

SECRETS = APIResource("", "v1", "Secret", "secrets", True, frozenset({"get", "list", "watch"}))
Inner = ClusterSupervisor | ElectedSupervisor


class SecretCluster:
    """Runs cluster `cluster`'s sync with the connection Secret `secret` holds, following it."""

    def __init__(
        self,
        home: Callable[[], Awaitable[Kube]],
        secret: str,
        runner: Callable[[ClusterConfig], Inner],
        *,
        store: Store,
        cluster: str,
        context: str | None = None,
        grace: float = GRACE_SECONDS,
        announce: Callable[[str], None] = log.warning,
    ) -> None:
        self.namespace, self.secret_name = secret_ref(secret)
        self.secret = secret
        self._home = home
        self._new_runner = runner
        self.store = store
        self.cluster = cluster
        self.context = context
        self.grace = grace
        self._announce = announce
        self.config: ClusterConfig | None = None
        self.current: Inner | None = None  # the runner of the connection in use
        self._task: asyncio.Task[None] | None = None
        self._problem = f"Secret {secret} not read yet"
        self._problem_since = time.monotonic()
        self._ended: asyncio.Future[None] | None = None

    @property
    def name(self) -> str:
        return f"cluster {self.cluster} (Secret {self.secret})"

    def connection(self) -> ClusterConfig:
        """The connection the Secret describes now (what the sync uses), for the API's
        deploys to this cluster; KubeConfigError naming the Secret when there is none."""
        if self.config is None:
            raise KubeConfigError(
                f"{self.name}: {self._problem}",
                fix=f"Fix or re-create Secret {self.secret} in the cluster serve runs in "
                "(serve follows it).",
            )
        return self.config

    def readiness(self) -> Readiness:
        if self.current is not None:
            return self.current.readiness()
        if time.monotonic() - self._problem_since > self.grace:
            return Readiness(False, f"{self.name}: {self._problem}")
        return Readiness(True)

    async def run(self) -> None:
        """Watch the Secret and run the sync it allows, until cancelled (or the sync ends by
        itself: its error is raised, as a runner's)."""
        self._ended = asyncio.get_running_loop().create_future()
        kube = await self._home()
        informer = Informer(
            kube,
            SECRETS,
            self._changed,
            namespace=self.namespace,
            field_selector=f"metadata.name={self.secret_name}",
            on_connectivity=self._home_connectivity,
        )
        informer.start()
        first = asyncio.create_task(self._first_list(informer))
        try:
            await self._ended
        finally:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            await informer.stop()
            await self._stop_runner()
            await kube.aclose()

    async def _first_list(self, informer: Informer) -> None:
        await informer.synced.wait()
        if not informer.cache:  # nothing listed: no event says so
            await self._changed(DELETED, {})

    async def _home_connectivity(self, connectivity: Connectivity) -> None:
        if not connectivity.up and self.current is None:
            self._problem = (
                f"Secret {self.secret} cannot be read: the cluster serve runs in does not "
                f"answer ({connectivity.reason})"
            )

    async def _changed(self, kind: str, body: dict[str, Any]) -> None:
        config: ClusterConfig | None = None
        if kind == DELETED:
            problem = f"Secret {self.secret} does not exist in the cluster serve runs in"
        else:
            try:
                config = config_from_secret(body, self.secret, self.context)
                problem = ""
            except KubeConfigError as exc:
                problem = exc.explain()
        if config is not None and config == self.config:
            return  # the Secret changed, not the connection it describes
        had = self.config is not None
        await self._stop_runner()
        self.config = config
        if config is None:
            await self._unusable(problem)
            return
        if had:
            self._announce(f"serve: {self.name} changed: syncing with the connection it holds now")
        self._start_runner(config)

    def _start_runner(self, config: ClusterConfig) -> None:
        runner = self._new_runner(config)
        self.current = runner
        self._task = asyncio.create_task(runner.run(), name=f"sync {self.cluster}")
        self._task.add_done_callback(self._runner_done)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._task or task.cancelled() or self._ended is None:
            return
        if not self._ended.done():
            error = task.exception()
            self._ended.set_exception(error or RuntimeError(f"{task.get_name()} ended"))

    async def _stop_runner(self) -> None:
        task, self._task, self.current = self._task, None, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _unusable(self, problem: str) -> None:
        self._problem, self._problem_since = problem, time.monotonic()
        since = datetime.now(UTC)
        message = (
            f"{self.name} cannot be reached since {since.isoformat(timespec='seconds')}: {problem}"
        )
        self._announce(f"serve: {message}; its releases are stored Unknown")
        try:
            await mark_unreachable_once(self.store, self.cluster, message, since)
        except StoreError as exc:
            log.warning("%s: storing its releases Unknown failed: %s", self.name, exc)
