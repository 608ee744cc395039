"""Journeys a user takes, end to end on the sandbox: every surface tells the same truth.

Each test strings real processes together (`helmguard deploy`, `helmguard serve` with its
API, `helmguard status` with and without `--live`) over one SQLite store, and checks that
the CLI, the API's release list and its release detail agree on the state and root cause,
for a chart with Helm's standard labels (the seed chart) and for one with none.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from api.test_browser import CHROMIUM, CHROMIUM_ARGS
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import free_port, helmguard, stop

ROOT = Path(__file__).parents[2]
SEED = ROOT / "examples" / "vault-seed"
BARE = Path(__file__).parent / "charts" / "bare"
TOKEN = "journey-token-" + "x" * 32


@dataclass(frozen=True)
class Chart:
    """A chart whose one Deployment needs ServiceAccount `account`, deployed as `release`."""

    path: Path
    release: str
    deployment: str
    account: str
    extra: tuple[str, ...] = ()


CHARTS = {
    # Helm's standard labels on everything (the seed incident's own chart).
    "labelled": Chart(
        SEED, "common", "common-vault", "vault-svc", ("--set", "namespace.create=false")
    ),
    # No app.kubernetes.io/* label anywhere: only the inventory can find its objects.
    "unlabelled": Chart(BARE, "bare", "bare-worker", "runner"),
}


@dataclass
class World:
    """One store, one sandbox, and the processes a test started."""

    sandbox: Sandbox
    db: Path
    namespace: str
    logs: Path
    processes: list[subprocess.Popen[bytes]]
    page: Page

    def open_page(self, base: str, release: str) -> None:
        """Show the release's page, as a user opening serve's link would."""
        self.page.goto(f"{base}/?release={self.namespace}/{release}#token={TOKEN}")

    @property
    def cluster_args(self) -> list[str]:
        return [
            "--kubeconfig",
            str(self.sandbox.kubeconfig),
            "--kube-context",
            self.sandbox.admin_context,
        ]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            helmguard(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def deploy(self, chart: Chart, *more: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "deploy",
            str(chart.path),
            "--release",
            chart.release,
            "-n",
            self.namespace,
            "--db",
            str(self.db),
            *self.cluster_args,
            *chart.extra,
            *more,
        )

    def serve(self) -> tuple[subprocess.Popen[bytes], str]:
        """Start `helmguard serve` with its API on a free port; its base URL once it answers.

        Its chart root (its working directory) holds the journey charts.
        """
        port = free_port()
        log = (self.logs / f"serve-{len(self.processes)}.log").open("wb")
        proc = subprocess.Popen(
            helmguard("serve", "--db", str(self.db), *self.cluster_args, "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HELMGUARD_API_TOKEN": TOKEN},
            cwd=BARE.parent,
        )
        self.processes.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, self.logs / f"serve-{len(self.processes) - 1}.log"
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, "serve's API to answer", 90)
        return proc, base

    def status(self, chart: Chart, *more: str) -> dict[str, Any]:
        """`helmguard status -o json`, run in this process (a fresh interpreter costs seconds).

        In a thread of its own: the page's driver keeps an event loop in this one.
        """
        args = [
            "status", chart.release, "-n", self.namespace, "--db", str(self.db),
            "-o", "json", *self.cluster_args, *more,
        ]  # fmt: skip
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(CliRunner().invoke, main, args).result()
        assert answer.exit_code == 0, answer.output
        return dict(json.loads(answer.stdout))


@pytest.fixture
def world(sandbox: Sandbox, namespace: str, tmp_path: Path) -> Iterator[World]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        w = World(sandbox, tmp_path / "helmguard.db", namespace, tmp_path, [], page)
        try:
            yield w
        finally:
            for proc in w.processes:
                stop(proc)
            browser.close()


def deploy_through_api(world: World, base: str, chart: Chart) -> None:
    """POST /api/deploy (forced) and wait for the operation to end, as the page's form does."""
    started = httpx.post(
        f"{base}/api/deploy",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "chart": chart.path.name,
            "release": chart.release,
            "namespace": world.namespace,
            "force": True,
            "timeout": 60,
        },
        timeout=30,
    )
    assert started.status_code == 202, started.text
    operation = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        op = _api(base, f"/api/operations/{operation}")
        return op if op["state"] != "running" else None

    op = wait_until(ended, "the API deploy to end", 90)
    assert op["result"]["outcome"] == "failed", op
    assert chart.account in json.dumps(op["result"])


def _api(base: str, path: str) -> Any:
    answer = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()


def surfaces(world: World, chart: Chart, base: str | None) -> dict[str, tuple[str, str | None]]:
    """(state, root cause) of the release as each surface tells it now."""
    told: dict[str, tuple[str, str | None]] = {}
    for name, extra in (("status", ()), ("status --live", ("--live",))):
        found = world.status(chart, *extra)
        told[name] = (found["app"]["state"], found["app"]["root_cause"])
    if base is not None:
        detail = _api(base, f"/api/releases/{world.namespace}/{chart.release}")["status"]
        told["api detail"] = (detail["state"], (detail["root_cause"] or {}).get("text"))
        item = next(
            r
            for r in _api(base, "/api/releases")
            if r["release"] == {"namespace": world.namespace, "name": chart.release, "cluster": ""}
        )
        told["api list"] = (item["state"], (item["root_cause"] or {}).get("text"))
        # The page updates itself from the stream: it is read as it is, never reloaded.
        badge = world.page.locator("#release-status h1 .badge")
        summary = world.page.locator("#release-status .summary").inner_text()
        cause = (
            summary.split(" — root cause: ")[1].split(" — ")[0] if "root cause" in summary else None
        )
        told["page"] = (str(badge.get_attribute("data-state")), cause)
    return told


def all_say(
    world: World,
    chart: Chart,
    base: str | None,
    want: Callable[[str, str | None], bool],
    what: str,
    within: float = 60,
) -> dict[str, tuple[str, str | None]]:
    """Wait until every surface says what `want` accepts; fail showing what each said."""
    last: dict[str, tuple[str, str | None]] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            last = surfaces(world, chart, base)
        except (httpx.HTTPError, StopIteration, PlaywrightError) as exc:
            last = {"error": (repr(exc), None)}
        else:
            if all(want(state, cause) for state, cause in last.values()):
                return last
        time.sleep(0.5)
    raise AssertionError(f"surfaces never all said {what}: {last}")


def create_account(admin_http: httpx.Client, namespace: str, name: str) -> None:
    made = admin_http.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", json={"metadata": {"name": name}}
    )
    assert made.status_code == 201, made.text


def blocked_on(world: World, chart: Chart) -> Callable[[str, str | None], bool]:
    account = f"ServiceAccount {world.namespace}/{chart.account}"
    return lambda state, cause: state == "Blocked" and cause == account


def ready(state: str, cause: str | None) -> bool:
    return state == "Ready"


@pytest.mark.parametrize("labels", sorted(CHARTS))
@pytest.mark.parametrize("order", ["serve started afterwards", "serve running", "serve restarted"])
def test_cli_deploy_is_told_the_same_by_every_surface(
    world: World, admin_http: httpx.Client, labels: str, order: str
) -> None:
    chart = CHARTS[labels]
    base = None
    if order == "serve running":
        _, base = world.serve()
    deployed = world.deploy(chart, "--force", "--timeout", "60")
    # Forced past preflight: the cluster refuses the pods, and deploy says so at once.
    assert deployed.returncode == 1, deployed.stdout + deployed.stderr
    assert chart.account in deployed.stdout + deployed.stderr
    if order == "serve restarted":
        first, _ = world.serve()
        stop(first)
        _, base = world.serve()
    elif base is None:
        _, base = world.serve()
    world.open_page(base, chart.release)
    told = all_say(world, chart, base, blocked_on(world, chart), "Blocked on the ServiceAccount")
    assert set(told) == {"status", "status --live", "api detail", "api list", "page"}

    healed = "Blocked"
    if order == "serve running":
        create_account(admin_http, world.namespace, chart.account)
        # The ReplicaSet controller retries the refused pods with exponential backoff, so
        # how soon the cluster heals depends on how long it has been failing.
        all_say(world, chart, base, ready, "Ready once the ServiceAccount exists", within=240)
        healed = "Ready"

    # With serve gone, `status` reads the cluster itself and says so.
    for proc in world.processes:
        stop(proc)
    found = world.status(chart)
    assert found["read_from"] == "live", found["source"]
    assert found["app"]["state"] == healed


@pytest.mark.parametrize("order", ["serve running", "serve restarted"])
def test_api_deploy_is_told_the_same_by_every_surface(
    world: World, admin_http: httpx.Client, order: str
) -> None:
    chart = CHARTS["unlabelled"]
    first, base = world.serve()
    deploy_through_api(world, base, chart)
    if order == "serve restarted":
        stop(first)
        _, base = world.serve()
    world.open_page(base, chart.release)
    all_say(world, chart, base, blocked_on(world, chart), "Blocked on the ServiceAccount")
    if order == "serve running":
        create_account(admin_http, world.namespace, chart.account)
        all_say(world, chart, base, ready, "Ready once the ServiceAccount exists", within=240)


def test_status_without_serve_reads_the_cluster_from_the_inventory(world: World) -> None:
    chart = CHARTS["unlabelled"]
    deployed = world.deploy(chart, "--force", "--timeout", "60")
    assert deployed.returncode == 1, deployed.stdout
    found = world.status(chart)
    assert found["read_from"] == "live"
    assert "inventory of revision 1" in found["source"]
    assert (found["app"]["state"], found["app"]["root_cause"]) == (
        "Blocked",
        f"ServiceAccount {world.namespace}/runner",
    )
    members = {m["ref"]: m["state"] for m in found["members"]}
    assert members == {
        f"Deployment.apps {world.namespace}/bare-worker": "Blocked",
        f"ConfigMap {world.namespace}/bare-settings": "Ready",
    }


def test_unknown_release_and_empty_selector_are_not_found(world: World) -> None:
    for extra in ((), ("--live",)):
        answer = world.run(
            "status", "nope", "-n", world.namespace, "--db", str(world.db), *world.cluster_args,
            *extra,
        )  # fmt: skip
        assert answer.returncode == 1, (extra, answer.stdout)
        assert "not found" in answer.stderr and "Ready" not in answer.stdout
        assert "Traceback" not in answer.stderr
    answer = world.run(
        "status", "nope", "-n", world.namespace, "--live", "--selector", "app=nothing-has-it",
        *world.cluster_args, "-o", "json",
    )  # fmt: skip
    assert answer.returncode == 1
    assert json.loads(answer.stdout)["app"]["state"] == "Missing"
    assert "not found" in answer.stderr


def test_after_a_timed_out_deploy_uninstall_and_deploy_run_at_once(world: World) -> None:
    chart = CHARTS["unlabelled"]
    account = ("--set", "serviceAccountName=default")
    # Pods get Ready but the Deployment stays unavailable for an hour: only the deadline ends it.
    hold = ("--set", "minReadySeconds=3600", "--set", "progressDeadlineSeconds=7200")
    timed_out = world.deploy(chart, *account, *hold, "--timeout", "25")
    assert timed_out.returncode == 1, timed_out.stdout + timed_out.stderr
    assert "timed out" in timed_out.stdout + timed_out.stderr
    started = time.monotonic()
    removed = world.run(
        "uninstall", chart.release, "-n", world.namespace, "--db", str(world.db),
        *world.cluster_args,
    )  # fmt: skip
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "is locked" not in removed.stdout + removed.stderr
    # Not held up by a Lease the timed-out deploy left behind (it would be for 30 s).
    assert time.monotonic() - started < 25
    # The uninstall found the timed-out revision's record: it was written after the deadline.
    again = world.deploy(chart, *account, "--timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
