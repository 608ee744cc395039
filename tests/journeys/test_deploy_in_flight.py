"""A deploy still running, seen from serve and from `status --live`, then timed out.

A user installs a chart whose pre-install check Pod must succeed before anything else is
created (kwok runs it and never ends it), with serve open. While the deploy waits, the
release's objects do not exist yet: that is the deploy's work ahead, not a broken release.
Every surface says Progressing ("not created yet: revision 1 is being deployed"), never
Missing, and the stored history has no Missing transition. Once the deploy has given up
(its timeout), what it never created is Missing everywhere.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import helmguard, on_sandbox, start_serve

pytestmark = pytest.mark.sandbox

CHART = Path(__file__).parent / "charts" / "gated"
TOKEN = "deploy-in-flight-token-" + "f" * 32


def test_objects_a_running_deploy_has_not_created_yet_are_progressing_not_missing(
    sandbox: Sandbox, namespace: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    db = tmp_path / "hg.db"
    target = on_sandbox(sandbox, db)
    _, base = start_serve(
        helmguard("serve", *target), processes, tmp_path / "serve.log", token=TOKEN
    )
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    settings = f"ConfigMap {namespace}/gate-settings"

    log = tmp_path / "install.log"
    with log.open("w") as out:
        install = subprocess.Popen(
            helmguard("install", "gate", str(CHART), "-n", namespace, "--timeout", "40s", *target),
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def member() -> dict[str, Any] | None:
        answer = api.get(f"/api/releases/{namespace}/gate")
        if answer.status_code != 200:
            return None
        rows = answer.json()["resources"]
        return next((r for r in rows if r["ref"]["kind"] == "ConfigMap"), None)

    try:
        _while_it_runs(namespace, target, log, member, settings)
        assert install.wait(timeout=120) == 1, log.read_text()
    finally:
        if install.poll() is None:
            install.kill()
    # Given up: what it never created is Missing now, on every surface.
    wait_until(
        lambda: (m := member()) is not None and m["state"] == "Missing",
        "serve to show the never-created ConfigMap Missing",
        30,
    )
    shown = subprocess.run(
        helmguard("status", "gate", "-n", namespace, "-o", "json", *target),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    body = json.loads(shown.stdout)
    assert {m["ref"]: m["state"] for m in body["members"]} == {settings: "Missing"}, body
    history = api.get(f"/api/releases/{namespace}/gate/history?limit=100").json()
    states = [(h["ref"]["kind"], h["to_state"]) for h in history]
    # Missing only after the deploy failed: the first state of the ConfigMap was Progressing.
    config = [to for kind, to in reversed(states) if kind == "ConfigMap"]
    assert config[0] == "Progressing" and config[-1] == "Missing", states


def _while_it_runs(
    namespace: str,
    target: list[str],
    log: Path,
    member: Any,
    settings: str,
) -> None:
    """Serve's API and `status --live` while the deploy waits for its check Pod."""
    wait_until(lambda: "pre-install hook Pod" in log.read_text(), "the check Pod applied", 60)
    row = wait_until(member, "serve to show the release being deployed", 30)
    assert (row["state"], row["reason"]) == ("Progressing", "NotAppliedYet"), row
    assert "revision 1 is being deployed" in row["message"], row
    live = subprocess.run(
        helmguard("status", "gate", "-n", namespace, "--live", "-o", "json", *target),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    members = {m["ref"]: m["state"] for m in json.loads(live.stdout)["members"]}
    assert members == {settings: "Progressing"}, members
