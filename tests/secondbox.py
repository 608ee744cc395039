"""A second sandbox for the tests over two clusters: $HELMGUARD_TEST_SECOND_SANDBOX (already
up; left up), else a private one started for the test module and stopped after it. Its
kube-apiserver can be killed and restarted."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helmguard.sandbox.cluster import (
    Sandbox,
    load_sandbox,
    restart_component,
    sandbox_down,
    sandbox_up,
)
from kubeapi import delete_namespace, sandbox_home, wait_until

ENV_VAR = "HELMGUARD_TEST_SECOND_SANDBOX"
PRIVATE = "clusters-a"


@dataclass(frozen=True)
class Second:
    """The sandbox whose API server the test stops, and how to reach its functions."""

    name: str
    home: Path | None  # None: the default sandboxes directory

    def _home(self) -> contextlib.AbstractContextManager[None]:
        return sandbox_home(self.home) if self.home is not None else contextlib.nullcontext()

    def load(self) -> Sandbox:
        with self._home():
            return load_sandbox(self.name)

    def kill_apiserver(self) -> None:
        os.killpg(self.load().pids["kube-apiserver"], signal.SIGKILL)

    def restart_apiserver(self) -> None:
        """Restart it, and wait until the controller-manager works again (it re-takes its
        own Lease first): a namespace made next gets its default ServiceAccount at once."""
        with self._home():
            restart_component(self.name, "kube-apiserver", timeout=120)
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        with self.load().admin_http() as api:
            made = api.post("/api/v1/namespaces", json={"metadata": {"name": probe}})
            assert made.status_code == 201, made.text
            account = f"/api/v1/namespaces/{probe}/serviceaccounts/default"
            wait_until(
                lambda: api.get(account).status_code == 200, "the controller-manager back", 120
            )
            delete_namespace(api, probe)


def second_sandbox(home: Path) -> Iterator[Second]:
    """The second sandbox (a private one lives under `home`) for as long as it is used."""
    reuse = os.environ.get(ENV_VAR)
    if reuse:
        yield Second(reuse, None)
        return
    with sandbox_home(home):
        sandbox_up(PRIVATE)
    try:
        yield Second(PRIVATE, home)
    finally:
        with sandbox_home(home):
            sandbox_down(PRIVATE)
