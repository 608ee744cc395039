"""An upgrade stopped with Ctrl-C, then status, the list, helm, and the next upgrade.

A user starts `helmguard upgrade`, sees it hang on a pre-upgrade hook Pod that never
finishes, and presses Ctrl-C. The revision must be recorded as failed (helm's history says
so too), no lock may be left, and `status` must not answer a bare "Ready": the objects of
the revision before are Ready, but the revision that was asked for did not land, and the
first lines say so. `status` without a release (the list) reads the cluster too, as
`status RELEASE` does without serve: before, it showed what a serve had stored last.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helmcli import Helm, helm_binary
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import helmguard, on_sandbox

pytestmark = pytest.mark.sandbox

CHART = Path(__file__).parents[1] / "deploy" / "charts" / "interop"


def test_an_interrupted_upgrade_is_failed_everywhere_and_leaves_no_lock(
    sandbox: Sandbox, namespace: str, tmp_path: Path
) -> None:
    db = tmp_path / "hg.db"
    target = on_sandbox(sandbox, db)
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            helmguard(*args, *target), capture_output=True, text=True, timeout=180
        )

    installed = run("install", "ja", str(CHART), "-n", namespace, "--timeout", "60s")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    log = tmp_path / "upgrade.log"
    with log.open("w") as out:
        upgrade = subprocess.Popen(
            helmguard(
                "upgrade", "ja", str(CHART), "-n", namespace, "--set", "slowHook=true",
                "--timeout", "120s", *target,
            ),
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        # kwok runs the hook Pod and never ends it: the upgrade waits for it to succeed.
        wait_until(
            lambda: "pre-upgrade hook Pod" in log.read_text(), "the hook Pod to be applied", 60
        )
        time.sleep(1)
        upgrade.send_signal(signal.SIGINT)
        assert upgrade.wait(timeout=60) == 130, log.read_text()
    finally:
        if upgrade.poll() is None:
            upgrade.kill()
    told = log.read_text()
    assert "Interrupted: the revision is marked interrupted" in told, told
    assert "Traceback" not in told, told
    assert "object(s) were applied: \n" not in told, told

    history = helm.json("history", "ja", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed"), (2, "failed")]
    assert "interrupted" in history[-1]["description"], history

    shown = run("status", "ja", "-n", namespace, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["app"]["state"] == "Ready", body
    assert (body["last_revision"], body["last_operation"]) == (
        2,
        f"failed: {history[-1]['description']}",
    )
    table = run("status", "ja", "-n", namespace)
    assert table.stdout.splitlines()[1] == (
        f"  last operation: revision 2 failed: {history[-1]['description']}"
    ), table.stdout

    listed = run("status", "-o", "json")
    (row,) = [r for r in json.loads(listed.stdout)["releases"] if r["namespace"] == namespace]
    assert (row["state"], row["read_from"], row["status"]) == ("Ready", "live", "interrupted")

    # No lock left: the next upgrade runs at once, and helm sees it deployed.
    again = run("upgrade", "ja", str(CHART), "-n", namespace, "--timeout", "60s")
    assert again.returncode == 0, again.stdout + again.stderr
    history = helm.json("history", "ja", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history][-1] == (3, "deployed")
    after = json.loads(run("status", "ja", "-n", namespace, "-o", "json").stdout)
    assert (after["last_revision"], after["last_operation"]) == (3, "deployed: Upgrade complete")
