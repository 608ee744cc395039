"""Journeys a user takes, end to end on the sandbox: every surface tells the same truth.

Each test strings real processes together (`helmguard deploy`, `helmguard serve` with its
API, `helmguard status` with and without `--live`) over one SQLite store, and checks that
the CLI, the API's release list and its release detail agree on the state and root cause,
for a chart with Helm's standard labels (the seed chart) and for one with none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    """A chart whose one Deployment runs as ServiceAccount `account`, deployed as `release`.

    `values` (YAML) go to the CLI as a -f file and to the API as its `values`.
    """

    path: Path
    release: str
    account: str
    values: str = ""

    @property
    def heals(self) -> bool:
        """Whether its account is one nobody created (Blocked until a test creates it)."""
        return self.account != "default"


CHARTS = {
    # Helm's standard labels on everything (the seed incident's own chart).
    "labelled": Chart(SEED, "common", "vault-svc", "namespace: {create: false}\n"),
    # No app.kubernetes.io/* label anywhere: only the inventory can find its objects.
    "unlabelled": Chart(BARE, "bare", "runner"),
}
# Each journey deploys these four: {labels, none} x {Blocked until its account is made, Ready}.
JOURNEY = (
    CHARTS["labelled"],
    Chart(
        SEED,
        "steady",
        "default",
        "namespace: {create: false}\nserviceAccount: {name: default}\n",
    ),
    CHARTS["unlabelled"],
    Chart(BARE, "bare-ok", "default", "serviceAccountName: default\n"),
)


@dataclass
class World:
    """One store, one sandbox, and the processes a test started."""

    sandbox: Sandbox
    db: Path
    namespace: str
    logs: Path
    processes: list[subprocess.Popen[bytes]]
    page: Page
    pages: dict[str, Page] = field(default_factory=dict)  # release -> its open page

    def open_page(self, base: str, release: str) -> None:
        """Show the release's page (in a tab of its own), as a user opening serve's link would."""
        if release not in self.pages:
            browser = self.page.context.browser
            assert browser is not None
            self.pages[release] = self.page if not self.pages else browser.new_page()
        self.pages[release].goto(f"{base}/?release={self.namespace}/{release}#token={TOKEN}")

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
        values = self.logs / f"{chart.release}-values.yaml"
        values.write_text(chart.values)
        return self.run(
            "deploy",
            str(chart.path),
            "--release",
            chart.release,
            "-n",
            self.namespace,
            "--db",
            str(self.db),
            "-f",
            str(values),
            *self.cluster_args,
            *more,
        )

    def serve(self) -> tuple[subprocess.Popen[bytes], str]:
        """Start `helmguard serve` with its API on a free port; its base URL once it answers.

        Its chart root (its working directory) holds copies of the journey charts.
        """
        root = self.logs / "charts"
        if not root.exists():
            for chart in (SEED, BARE):
                shutil.copytree(chart, root / chart.name)
        port = free_port()
        log = (self.logs / f"serve-{len(self.processes)}.log").open("wb")
        proc = subprocess.Popen(
            helmguard("serve", "--db", str(self.db), *self.cluster_args, "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HELMGUARD_API_TOKEN": TOKEN},
            cwd=root,
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

    def listed(self) -> dict[str, tuple[str, str]]:
        """`helmguard status -o json` without RELEASE: each release's (state, read_from)."""
        args = ["status", "--db", str(self.db), "-o", "json", *self.cluster_args]
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(CliRunner().invoke, main, args).result()
        assert answer.exit_code == 0, answer.output
        rows = json.loads(answer.stdout)["releases"]
        return {
            r["name"]: (r["state"], r["read_from"])
            for r in rows
            if r["namespace"] == self.namespace
        }

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


def deploy_through_api(world: World, base: str, chart: Chart) -> dict[str, Any]:
    """POST /api/deploy and wait for the operation to end, as the page's form does.

    Forced when the chart's account is missing (preflight would refuse it).
    """
    started = httpx.post(
        f"{base}/api/deploy",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "chart": chart.path.name,
            "release": chart.release,
            "namespace": world.namespace,
            "values": chart.values,
            "force": chart.heals,
            "timeout": 60,
        },
        timeout=30,
    )
    assert started.status_code == 202, started.text
    operation = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        op = _api(base, f"/api/operations/{operation}")
        return op if op["state"] != "running" else None

    return dict(wait_until(ended, "the API deploy to end", 90))


def _api(base: str, path: str) -> Any:
    answer = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()


Told = tuple[str, str | None]  # (state, root cause) as a surface tells it
CLI_SURFACES = ("status", "status --live")
API_SURFACES = ("api detail", "api list")


def cli_says(world: World, chart: Chart) -> dict[str, Told]:
    """What `helmguard status` and `status --live` say of the release now."""
    told = {}
    for name, extra in zip(CLI_SURFACES, ((), ("--live",)), strict=True):
        found = world.status(chart, *extra)
        told[name] = (found["app"]["state"], found["app"]["root_cause"])
    return told


def api_says(world: World, charts: Sequence[Chart], base: str) -> dict[str, dict[str, Told]]:
    """What the release list (one request) and each release's detail say now."""
    listed = {
        r["release"]["name"]: (r["state"], (r["root_cause"] or {}).get("text"))
        for r in _api(base, "/api/releases")
        if r["release"]["namespace"] == world.namespace and r["release"]["cluster"] == ""
    }
    told = {}
    for chart in charts:
        detail = _api(base, f"/api/releases/{world.namespace}/{chart.release}")["status"]
        told[chart.release] = {
            "api detail": (detail["state"], (detail["root_cause"] or {}).get("text")),
            "api list": listed.get(chart.release, ("absent from the list", None)),
        }
    return told


def page_says(world: World, chart: Chart) -> Told:
    """What the release's open page shows now; it updates itself from the stream, unreloaded."""
    page = world.pages[chart.release]
    badge = page.locator("#release-status h1 .badge")
    summary = page.locator("#release-status .summary").inner_text()
    cause = summary.split(" — root cause: ")[1].split(" — ") if "root cause" in summary else None
    return str(badge.get_attribute("data-state")), cause[0] if cause else None


def surfaces(world: World, chart: Chart, base: str | None) -> dict[str, Told]:
    """(state, root cause) of the release as each surface tells it now."""
    told = cli_says(world, chart)
    if base is not None:
        told.update(api_says(world, [chart], base)[chart.release])
        told["page"] = page_says(world, chart)
    return told


Want = Callable[[str, str | None], bool]


def all_say(
    world: World,
    chart: Chart,
    base: str | None,
    want: Want,
    what: str,
    within: float = 60,
) -> dict[str, Told]:
    """Wait until every surface says what `want` accepts; fail showing what each said."""
    last: dict[str, Told] = {}
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


@dataclass
class FirstSeen:
    """When one surface first said the awaited state: between `after` and `by` (monotonic)."""

    after: float = 0.0  # the start of the last read that did not say it yet
    by: float | None = None  # the end of the first read that said it
    told: Told | None = None


def first_seen(
    world: World, charts: Sequence[Chart], base: str, want: Want, within: float
) -> dict[str, dict[str, FirstSeen]]:
    """Read every surface of every release over and over, each surface on its own thread
    (the CLI's two, the API's two, the pages here: the browser's driver lives in this
    thread), until each has said what `want` accepts; when each first did, per release.
    """
    names = (*CLI_SURFACES, *API_SURFACES, "page")
    seen = {c.release: {n: FirstSeen(after=time.monotonic()) for n in names} for c in charts}
    deadline = time.monotonic() + within
    lock = threading.Lock()

    def note(release: str, surface: str, began: float, told: Told) -> None:
        with lock:
            mark = seen[release][surface]
            if mark.by is not None:
                return
            if want(*told):
                mark.by, mark.told = time.monotonic(), told
            else:
                mark.after, mark.told = began, told

    def pending(surfaces: Sequence[str]) -> list[Chart]:
        with lock:
            return [c for c in charts if any(seen[c.release][n].by is None for n in surfaces)]

    def poll(surfaces: Sequence[str], read: Callable[[list[Chart]], dict[str, dict[str, Told]]]):
        while (todo := pending(surfaces)) and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                answers = read(todo)
            except (httpx.HTTPError, PlaywrightError):
                time.sleep(0.1)
                continue
            for release, told in answers.items():
                for surface, said in told.items():
                    note(release, surface, began, said)
            time.sleep(0.05)

    def cli(todo: list[Chart]) -> dict[str, dict[str, Told]]:
        return {c.release: cli_says(world, c) for c in todo}

    def api(todo: list[Chart]) -> dict[str, dict[str, Told]]:
        return api_says(world, todo, base)

    with ThreadPoolExecutor(2) as pool:
        readers = [pool.submit(poll, CLI_SURFACES, cli), pool.submit(poll, API_SURFACES, api)]
        poll(("page",), lambda todo: {c.release: {"page": page_says(world, c)} for c in todo})
        for reader in readers:
            reader.result()
    missing = {r: [n for n, m in s.items() if m.by is None] for r, s in seen.items()}
    assert not any(missing.values()), f"within {within} s, never said so: {missing}; {seen}"
    return seen


def assert_within_a_second(seen: dict[str, dict[str, FirstSeen]]) -> None:
    """Each release's surfaces first told the new state within 1 s of each other.

    A surface first said it somewhere in (after, by]; the spread is at least
    max(after) - min(by), which must not exceed 1 s.
    """
    for release, marks in seen.items():
        latest_after = max(m.after for m in marks.values())
        earliest_by = min(m.by for m in marks.values() if m.by is not None)
        table = {n: (round(m.after, 2), round(m.by or 0, 2)) for n, m in marks.items()}
        assert latest_after - earliest_by <= 1.0, (release, table)


def create_account(admin_http: httpx.Client, namespace: str, name: str) -> None:
    made = admin_http.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts", json={"metadata": {"name": name}}
    )
    assert made.status_code == 201, made.text


def blocked_on(world: World, chart: Chart) -> Want:
    account = f"ServiceAccount {world.namespace}/{chart.account}"
    return lambda state, cause: state == "Blocked" and cause == account


def ready(state: str, cause: str | None) -> bool:
    return state == "Ready"


def expected(world: World, chart: Chart) -> Want:
    return blocked_on(world, chart) if chart.heals else ready


def deploy_all(world: World, via: str, base: str | None) -> None:
    """Deploy the journey's four releases at once, by the CLI or the API, and check each verdict.

    Those whose account is missing are forced past preflight: the cluster refuses their
    pods, and deploy says so at once, naming the account.
    """

    def one(chart: Chart) -> None:
        if via == "API":
            assert base is not None
            op = deploy_through_api(world, base, chart)
            assert op["result"]["outcome"] == ("failed" if chart.heals else "deployed"), op
            assert not chart.heals or chart.account in json.dumps(op["result"])
            return
        done = world.deploy(chart, "--timeout", "60", *(("--force",) if chart.heals else ()))
        said = done.stdout + done.stderr
        assert done.returncode == (1 if chart.heals else 0), said
        assert not chart.heals or chart.account in said

    # Two at a time: the machine's two cores also run the control plane and serve.
    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(one, chart) for chart in JOURNEY]:
            f.result()


@pytest.mark.parametrize(
    ("via", "order"),
    [
        ("CLI", "serve running"),
        ("CLI", "serve started afterwards"),
        ("CLI", "serve restarted"),
        ("API", "serve running"),
        # The API deploys through a serve: here it stops, `status` alone reads the cluster,
        # and another serve starts afterwards (restarted and started afterwards, in one).
        ("API", "serve restarted"),
    ],
)
def test_every_surface_tells_the_same_state_and_cause_within_a_second(
    world: World, admin_http: httpx.Client, via: str, order: str
) -> None:
    """{CLI, API} deploy x serve order x {labels, none} x {Ready, Blocked then healed}.

    `status`, `status --live`, `/api/releases`, `/api/releases/{ns}/{name}` and each
    release's page give the same state and root cause, and each first shows the healed
    state within 1 s of the others.
    """
    first = base = None
    if order != "serve started afterwards":
        first, base = world.serve()
    deploy_all(world, via, base)
    if order != "serve running":
        if first is not None:
            stop(first)
            # No serve: `status` reads the cluster itself, and says so; so does the list,
            # which showed serve's last stored states before.
            listed = world.listed()
            for chart in JOURNEY:
                found = world.status(chart)
                assert found["read_from"] == "live", found["source"]
                assert expected(world, chart)(found["app"]["state"], found["app"]["root_cause"])
                assert listed[chart.release] == (found["app"]["state"], "live")
        _, base = world.serve()
    assert base is not None
    for chart in JOURNEY:
        world.open_page(base, chart.release)
    for chart in JOURNEY:
        told = all_say(world, chart, base, expected(world, chart), f"{chart.release} as deployed")
        assert set(told) == {*CLI_SURFACES, *API_SURFACES, "page"}

    healing = [c for c in JOURNEY if c.heals]
    for chart in healing:
        create_account(admin_http, world.namespace, chart.account)
    # The ReplicaSet controller retries the refused pods with exponential backoff, so
    # how soon the cluster heals depends on how long it has been failing.
    assert_within_a_second(first_seen(world, healing, base, ready, within=240))
    for chart in JOURNEY:
        all_say(world, chart, base, ready, f"{chart.release} Ready, all surfaces alike")

    # With serve gone, `status` reads the cluster itself and says so.
    for proc in world.processes:
        stop(proc)
    listed = world.listed()
    for chart in JOURNEY:
        found = world.status(chart)
        assert found["read_from"] == "live", found["source"]
        assert found["app"]["state"] == "Ready", found
        assert listed[chart.release] == ("Ready", "live")


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
    assert world.listed()[chart.release] == ("Blocked", "live")


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
