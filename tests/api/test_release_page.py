"""The release page at 5, 55 and 125 objects, in Chromium, over `helmguard serve` on the sandbox.

One deploy per size (`helmguard deploy` of tests/api/charts/scale), one `serve` (its sync
and API), then every assertion on that release: the page renders in under a second once
its data have arrived; no two boxes of the dependency picture overlap; every object's
state equals `helmguard status -o json`'s (RBAC, NetworkPolicy, CRD: Exists, never
Unknown); each workload's pods are the cluster's pods (by ownerReferences); badges carry
their state as text; the keyboard reaches every action and opens an object's Events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from api.conftest import REPO
from api.test_browser import CHROMIUM, CHROMIUM_ARGS
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import free_port, helmguard, stop

CHART = Path(__file__).parent / "charts" / "scale"
TOKEN = "release-page-token-" + "y" * 32
SHOTS = REPO / "artifacts" / "screenshots"
# --set values giving 5, 55 and 125 objects (see the chart's values.yaml).
SIZES = {
    5: "components=1,rbac=false",
    55: "components=7,jobs=3,cluster=true,missingSecret=true",
    125: "components=17,jobs=3,cluster=true,missingSecret=true",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium)",
)


def _cluster_args(sandbox: Sandbox) -> list[str]:
    return ["--kubeconfig", str(sandbox.kubeconfig), "--kube-context", sandbox.admin_context]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        helmguard(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


def _remove_cluster_objects(api: httpx.Client, release: str) -> None:
    api.delete(
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{release}.helmguard.test"
    )
    for kind in ("clusterroles", "clusterrolebindings"):
        api.delete(f"/apis/rbac.authorization.k8s.io/v1/{kind}/{release}-gadget-reader")


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        opened = browser.new_page(viewport={"width": 1400, "height": 900})
        opened.set_default_timeout(30_000)
        try:
            yield opened
        finally:
            browser.close()


def _cluster_pods(api: httpx.Client, namespace: str) -> dict[str, set[str]]:
    """Each workload's pods as the cluster says, through ownerReferences (RS -> Deployment)."""
    owners: dict[str, tuple[str, str]] = {}  # uid -> (ref text, owner uid)
    paths = {
        "Deployment.apps": "/apis/apps/v1/namespaces/{}/deployments",
        "ReplicaSet.apps": "/apis/apps/v1/namespaces/{}/replicasets",
        "StatefulSet.apps": "/apis/apps/v1/namespaces/{}/statefulsets",
        "Job.batch": "/apis/batch/v1/namespaces/{}/jobs",
    }
    for kind, path in paths.items():
        for item in api.get(path.format(namespace)).json()["items"]:
            meta = item["metadata"]
            up = next(
                (o["uid"] for o in meta.get("ownerReferences", []) if o.get("controller")), ""
            )
            owners[meta["uid"]] = (f"{kind} {namespace}/{meta['name']}", up)
    found: dict[str, set[str]] = {}
    for pod in api.get(f"/api/v1/namespaces/{namespace}/pods").json()["items"]:
        meta = pod["metadata"]
        uid = next((o["uid"] for o in meta.get("ownerReferences", []) if o.get("controller")), "")
        top = None
        while uid in owners:
            top, uid = owners[uid][0], owners[uid][1]
        if top is not None:
            found.setdefault(top, set()).add(meta["name"])
    return found


def _page_pods(page: Page) -> dict[str, set[str]]:
    raw = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#components tbody tr')]
          .map((tr) => [tr.dataset.component,
                        [...tr.querySelectorAll('li[data-pod]')].map((li) => li.dataset.pod)]))"""
    )
    return {k: set(v) for k, v in raw.items() if v}


def _page_states(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll(
                 '#components tbody tr, #resources tbody tr')].map((tr) =>
                 [tr.dataset.component || tr.dataset.resource,
                  tr.querySelector('td.state .badge').dataset.state]))"""
        )
    )


def _rendered(page: Page) -> int:
    page.wait_for_selector('#release-page[data-rendered="true"]')
    return int(page.get_attribute("#release-page", "data-render-ms") or "0")


def _overlaps(page: Page) -> list[str]:
    """Pairs of intersecting boxes: nodes among nodes, component frames among frames."""
    return list(
        page.evaluate(
            """() => {
              const clash = (sel) => {
                const boxes = [...document.querySelectorAll(sel)].map((e) => [
                  e.closest('[data-node]')?.dataset.node || e.dataset.group,
                  e.getBoundingClientRect()]);
                const out = [];
                for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                  const [a, r] = boxes[i], [b, s] = boxes[j];
                  const cross = r.left < s.right && s.left < r.right;
                  if (cross && r.top < s.bottom && s.top < r.bottom) out.push(`${a} / ${b}`);
                }
                return out;
              };
              return [...clash('#graph g.node rect'), ...clash('#graph rect.group')];
            }"""
        )
    )


def _keyboard_reaches_everything(page: Page) -> None:
    """Tab from the top: every link, button, field and graph node takes the focus in turn."""
    total = page.evaluate(
        """() => {
          const sel = 'a[href], button, select, input, [tabindex="0"]';
          const all = [...document.querySelectorAll(sel)]
            .filter((e) => !e.closest('[hidden]') && !e.disabled);
          all.forEach((e, i) => { e.dataset.kbd = String(i); });
          return all.length;
        }"""
    )
    page.evaluate(
        "() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }"
    )
    reached: set[str] = set()
    for _ in range(total + 5):
        page.keyboard.press("Tab")
        got = page.evaluate("() => document.activeElement && document.activeElement.dataset.kbd")
        if got is not None:
            reached.add(got)
    missed = page.evaluate(
        """(reached) => [...document.querySelectorAll('[data-kbd]')]
             .filter((e) => !reached.includes(e.dataset.kbd))
             .map((e) => e.outerHTML.slice(0, 120))""",
        sorted(reached),
    )
    assert not missed, f"{len(missed)} of {total} actions not reached by Tab: {missed[:5]}"


@pytest.mark.parametrize("size", sorted(SIZES))
def test_release_page(
    size: int,
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    page: Page,
) -> None:
    release = f"s{size}-{namespace[2:8]}"
    db = str(tmp_path / "helmguard.db")
    deployed = _run(
        "deploy", str(CHART), "--release", release, "-n", namespace, "--db", db,
        *_cluster_args(sandbox), "--set", SIZES[size], "--force", "--no-wait",
    )  # fmt: skip
    try:
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        processes.append(
            subprocess.Popen(
                helmguard("serve", "--db", db, *_cluster_args(sandbox), "--port", str(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HELMGUARD_API_TOKEN": TOKEN},
            )
        )
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def settled() -> dict[str, Any] | None:
            """The release detail once the sync has stored every object and each pod."""
            try:
                answer = httpx.get(f"{base}/api/releases/{namespace}/{release}", headers=auth)
            except httpx.HTTPError:
                return None
            if answer.status_code != 200:
                return None
            detail = answer.json()
            members = [*detail["components"], *detail["resources"]]
            if any(m["state"] in ("Unknown", "Progressing") for m in members):
                return None
            pods = {
                c["ref"]["text"]: {p["ref"]["name"] for p in c["pods"]}
                for c in detail["components"]
            }
            cluster = _cluster_pods(admin_http, namespace)
            return detail if {k: v for k, v in pods.items() if v} == cluster else None

        detail = wait_until(settled, f"the {size}-object release to settle", timeout=240)
        members = [*detail["components"], *detail["resources"]]
        assert len(members) == size

        page.goto(f"{base}/?release={namespace}/{release}#token={TOKEN}")
        render_ms = _rendered(page)
        layout_ms = page.get_attribute("#release-page", "data-layout-ms")
        print(f"release page, {size} objects: rendered in {render_ms} ms after the data arrived")
        print(f"  (tables built and the layout done {layout_ms} ms after the data arrived)")
        assert page.locator("#graph-missing").count() == 0
        assert page.locator("#graph g.node").count() >= size
        assert not _overlaps(page)

        # Every object's state is `helmguard status -o json`'s (read while serve's sync runs).
        status = _run(
            "status", release, "-n", namespace, "--db", db, "-o", "json", *_cluster_args(sandbox)
        )
        assert status.returncode == 0, status.stderr
        cli = {m["ref"]: m["state"] for m in json.loads(status.stdout)["members"]}
        assert _page_states(page) == cli
        assert "Unknown" not in cli.values()
        for ref, state in cli.items():
            kind = ref.split(" ")[0].split(".")[0]
            if kind in {
                "NetworkPolicy",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
                "ServiceAccount",
                "ConfigMap",
            }:
                assert state == "Ready", (ref, state)
        # The pods column is the cluster's pods, each with its own state and restarts.
        assert _page_pods(page) == _cluster_pods(admin_http, namespace)
        assert page.locator("#components li[data-pod] .restarts").count() >= 1
        # Colour is never the only carrier of state.
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('.badge')]
                 .filter((b) => b.textContent.trim() !== b.dataset.state).length"""
        )
        assert unlabelled == 0
        if size > 5:
            # The Secret the first component needs is missing: Blocked, its edge broken first.
            first = f"Deployment.apps {namespace}/{release}-c00"
            assert cli[first] == "Blocked"
            assert page.locator(f'path.edge.broken[data-source="{first}"]').count() == 1
            assert page.locator("#graph .broken-list li").count() >= 1
            assert page.locator("#graph rect.group").first.get_attribute("data-group") == first

        # Search and filters narrow the tables.
        page.fill("#search", f"{release}-c00")
        assert page.locator("#components tbody tr:not([hidden])").count() == 1
        page.fill("#search", "")
        page.select_option("#filter-kind", "ConfigMap")
        assert page.locator("#resources tbody tr:not([hidden])").count() == len(
            [m for m in members if m["ref"]["kind"] == "ConfigMap"]
        )
        page.select_option("#filter-kind", "")

        if size <= 55:
            _keyboard_reaches_everything(page)
        # Live: a deleted pod is replaced; the page shows the new one without a reload, and
        # its Events (the scheduler's, seen by the sync) open from the keyboard.
        workload = f"Deployment.apps {namespace}/{release}-c01" if size > 5 else None
        workload = workload or f"Deployment.apps {namespace}/{release}-c00"
        (old,) = _cluster_pods(admin_http, namespace)[workload]
        page.evaluate("window.__noReload = 'still here'")
        gone = admin_http.delete(f"/api/v1/namespaces/{namespace}/pods/{old}")
        assert gone.status_code == 200, gone.text

        def replaced() -> str | None:
            shown = _page_pods(page).get(workload, set())
            new = shown - {old}
            cluster = _cluster_pods(admin_http, namespace).get(workload, set())
            return next(iter(new)) if new and shown == cluster else None

        new = wait_until(replaced, "the page to show the replacement pod", timeout=120)
        assert page.evaluate("window.__noReload") == "still here"
        page.locator(f'li[data-pod="{new}"] button.obj').focus()
        page.keyboard.press("Enter")
        page.locator("#object-events li", has_text="Scheduled").wait_for(timeout=60_000)
        assert page.evaluate("document.activeElement.id") == "object-title"
        page.click("#close-panel")
        shot = SHOTS / f"release-{size}.png"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.getElementById('section-graph').scrollIntoView()")
        page.screenshot(path=str(shot))
        if os.environ.get("HELMGUARD_UPDATE_SCREENSHOT"):
            (REPO / "docs").mkdir(exist_ok=True)
            shutil.copy(shot, REPO / "docs" / f"release-{size}.png")
        # The list: a count per state, filters, the root cause in one line.
        page.goto(f"{base}/")
        # The pod just replaced may hold its workload Progressing a moment: the list follows.
        app = "Blocked" if size > 5 else "Ready"
        row = page.locator(f'#releases tr[data-release="{namespace}/{release}"]')
        row.and_(page.locator(f'tr[data-state="{app}"]')).wait_for(timeout=60_000)
        assert page.inner_text(f'#state-counts button[data-state="{app}"] .n') == "1"
        page.select_option("#filter-state", "Failed")
        page.locator("#list-shown", has_text="0 of 1 release(s) shown").wait_for()
        assert page.locator("#releases tbody tr").count() == 0
        page.select_option("#filter-state", app)
        page.locator("#list-shown", has_text="1 of 1 release(s) shown").wait_for()
        if size > 5:
            assert f"{release}-c00-token" in page.inner_text("#releases td.oneline")
    finally:
        for proc in processes:
            stop(proc)
        _remove_cluster_objects(admin_http, release)
