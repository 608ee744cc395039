"""The catalogue and the values editor in real headless Chromium, on the sandbox.

A chart written by tests/chartrepo.py is packaged with the sandbox's `helm package`,
indexed with `helm repo index` and served by a local HTTP server; the page registers the
repository, searches it, picks a version, shows README and defaults, marks a YAML error
at its line and a schema error at its field, checks (a missing ServiceAccount found),
deploys after the fix and follows the operation to Ready; then upgrades with a changed
value, rolls back and uninstalls from the release page, each confirmed. The cluster is
asked after each step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page

from api.conftest import TOKEN
from api.live import serving
from api.test_browser import _page, _shot, browser, pytestmark
from chartrepo import serve_repository
from helmguard.api.app import create_app
from helmguard.deploy import DeployOptions
from helmguard.kube.client import connect
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import open_store
from helmguard.sync import Sync

__all__ = ["browser", "pytestmark"]


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[str]:
    with serve_repository(tmp_path) as url:
        yield url


def _configmap(admin_http: httpx.Client, namespace: str) -> httpx.Response:
    return admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/web-config")


async def _message(admin_http: httpx.Client, namespace: str) -> str:
    response = await asyncio.to_thread(_configmap, admin_http, namespace)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["message"])


async def _type(page: Page, text: str) -> None:
    """Replace the overrides as a user would (input events), then let the check answer."""
    values = page.locator("#values")
    await values.fill(text)
    await values.dispatch_event("input")


async def _check_and_deploy(page: Page, namespace: str) -> None:
    await page.locator('#deploy-form button[type="submit"]').click()
    await page.locator("#no-findings").wait_for()
    await page.locator("#confirm-deploy").click()
    # The operation is followed on the page: its steps, then the verdict.
    await page.locator("#deploy-operation li[data-step]").first.wait_for()
    verdict = page.locator("#deploy-operation #verdict")
    await verdict.wait_for(timeout=90_000)
    assert await verdict.get_attribute("data-outcome") == "deployed", await verdict.inner_text()
    await page.wait_for_url(f"**/?release={namespace}/web*")


async def _tab_reaches(page: Page, ids: set[str], presses: int = 80) -> bool:
    """Whether Tab, pressed from the top of the page, focuses every element of `ids`."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    seen: set[str] = set()
    for _ in range(presses):
        await page.keyboard.press("Tab")
        seen.add(str(await page.evaluate("document.activeElement.id")))
        if ids <= seen:
            return True
    return False


async def _wait_ready(page: Page, namespace: str) -> None:
    ready = page.locator(
        f'#components tr[data-component="Deployment.apps {namespace}/web"] '
        'td.state .badge[data-state="Ready"]'  # the component's own state, not its pods'
    )
    await ready.wait_for(timeout=90_000)


async def test_catalogue_to_deploy_upgrade_rollback_uninstall(
    tmp_path: Path,
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    chart_repo: str,
    browser: Browser,
) -> None:
    store = await open_store(str(tmp_path / "helmguard.db"))
    kube = await connect(sandbox.kubeconfig, sandbox.admin_context)
    sync = Sync(kube, store, tick=0.5, refresh=0.5)
    await sync.start()
    options = DeployOptions(
        kubeconfig=str(sandbox.kubeconfig), context=sandbox.admin_context, timeout=90
    )
    app = create_app(
        store, token=TOKEN, chart_roots=[tmp_path], deploy_options=options, poll_interval=0.1
    )
    try:
        async with serving(app) as base:
            page = await _page(browser)
            # Renders, downloads and operations share two cores with other work: be patient.
            page.set_default_timeout(60_000)
            await page.goto(f"{base}/?view=catalogue#token={TOKEN}")
            # Register the repository through the form.
            await page.locator("#add-repo summary").click()
            form = page.locator("#repo-form")
            await form.locator('input[name="name"]').fill("test")
            await form.locator('input[name="url"]').fill(chart_repo)
            await form.locator('button[type="submit"]').click()
            await page.locator('#repos tr[data-repo="test"]').wait_for()
            assert "none" in await page.inner_text('#repos tr[data-repo="test"]')
            # Search by keyword, pick the older version, read its README and defaults.
            await page.locator("#catalogue-search").fill("catalogue-test")
            row = page.locator('#charts tr[data-chart="test/webapp"]')
            await row.wait_for()
            assert "0.2.0" in await row.inner_text()
            await page.locator("#catalogue-search").fill("no-such-chart-anywhere")
            await page.locator("#chart-results", has_text="No chart matches.").wait_for()
            await page.locator("#catalogue-search").fill("webapp")
            await row.get_by_role("button", name="Versions").click()
            version = page.locator('#versions tr[data-version="0.1.0"]')
            assert "1.0" in await version.inner_text()
            await version.get_by_role("button").click()
            await page.locator("#chart-readme", has_text="Serves `message`").wait_for()
            assert "replicaCount: 1" in await page.inner_text("#chart-values")
            assert '"maximum": 5' in await page.inner_text("#chart-schema")
            await _shot(page, "catalogue")
            # Local charts (the server's chart root holds the sources) and a browser upload.
            local = page.locator(f'#local-charts tr[data-local="{tmp_path}/src-0.2.0/webapp"]')
            assert "0.2.0" in await local.inner_text()
            await page.set_input_files("#upload-file", str(tmp_path / "repo" / "webapp-0.2.0.tgz"))
            await page.locator("#upload-form button").click()
            uploaded = page.locator("#upload-result code")
            await uploaded.wait_for()
            assert (await uploaded.inner_text()).startswith("upload:")

            # The editor: defaults beside the overrides.
            await page.locator("#deploy-version").click()
            await page.locator("#chart-loaded", has_text="webapp 0.1.0").wait_for()
            assert "serviceAccount:" in await page.inner_text("#defaults")
            await page.locator('input[name="release"]').fill("web")
            await page.locator('input[name="namespace"]').fill(namespace)
            await _type(page, "message: first\nreplicaCount: 1: 2\nimage: x\n")
            await page.locator('#yaml-status [data-line="2"]').wait_for()
            assert "line 2" in await page.inner_text("#yaml-status")
            assert await page.locator('.gutter span.bad[data-line="2"]').count() == 1
            await _type(page, "message: first\nreplicaCount: 9\n")
            problem = page.locator('#schema-problems li[data-path="replicaCount"]')
            await problem.wait_for()
            assert "maximum of 5" in await problem.inner_text()
            await _shot(page, "values-schema-error")
            await _type(page, "message: first\nreplicaCount: 2\n")
            await page.locator("#schema-ok").wait_for()
            diff = page.locator('#values-diff tr[data-path="message"]')
            assert "hello" in await diff.inner_text()
            assert "first" in await diff.inner_text()
            # Check: the ServiceAccount the defaults do not create is found, on its field.
            await page.locator('#deploy-form button[type="submit"]').click()
            finding = page.locator('#findings tr[data-code="HG101"]')
            await finding.wait_for()
            assert "serviceAccountName" in await finding.inner_text()
            link = finding.get_by_role("link", name=f"Deployment.apps {namespace}/web")
            finding_href = str(await link.get_attribute("href"))
            assert f"release={namespace}/web" in finding_href
            await _shot(page, "values-check")
            await _type(page, "message: first\nreplicaCount: 2\nserviceAccount:\n  create: true\n")
            await page.locator('#values-diff tr[data-path="serviceAccount.create"]').wait_for()
            await _check_and_deploy(page, namespace)
            await _wait_ready(page, namespace)
            assert await _message(admin_http, namespace) == "first"
            await _shot(page, "catalogue-deployed")
            # The finding's link, followed now that the release exists, marks its object.
            await page.goto(f"{base}{finding_href}")
            target = f'tr.target[data-component="Deployment.apps {namespace}/web"]'
            await page.locator(target).wait_for()
            # Focused once rendered (a live re-render keeps the focus on the new row).
            await page.wait_for_function(
                "sel => document.activeElement === document.querySelector(sel)",
                arg=target,
                timeout=10_000,
            )

            # Upgrade from the release page to the newer version: the previous values are
            # loaded, one is changed.
            await page.locator("#upgrade").click()
            await page.locator("#chart-loaded", has_text="webapp 0.1.0").wait_for()
            assert "message: first" in await page.input_value("#values")
            await page.locator("#chart-version").select_option("0.2.0")
            await page.locator("#chart-loaded", has_text="webapp 0.2.0 (app 1.1)").wait_for()
            await _type(page, "message: second\nreplicaCount: 2\nserviceAccount:\n  create: true\n")
            await page.locator('#values-diff tr[data-path="message"]', has_text="second").wait_for()
            await _check_and_deploy(page, namespace)
            await _wait_ready(page, namespace)
            assert await _message(admin_http, namespace) == "second"
            await page.locator(
                "#release-status", has_text="webapp 0.2.0, revision 2, last operation deployed"
            ).wait_for()

            # Every release action is reached with the keyboard alone, each with a text label.
            assert await _tab_reaches(
                page, {"upgrade", "rollback-revision", "rollback", "uninstall"}
            )
            for control in ("#upgrade", "#rollback", "#uninstall"):
                assert (await page.inner_text(control)).strip()

            # Roll back to revision 1, confirmed.
            await page.locator("#rollback-revision").select_option("1")
            await page.locator("#rollback").click()
            await page.locator("#action-confirm", has_text="back to revision 1?").wait_for()
            await page.locator("#confirm-action").click()
            verdict = page.locator("#release-operation #verdict")
            await verdict.wait_for(timeout=90_000)
            assert await verdict.get_attribute("data-outcome") == "deployed"
            assert await _message(admin_http, namespace) == "first"
            await page.locator("#release-status", has_text="webapp 0.1.0, revision 3").wait_for()

            # Uninstall, confirmed: the objects are gone and the page lands on the list.
            await page.locator("#uninstall").click()
            await page.locator("#confirm-action").click()
            await page.locator("#release-operation #verdict").wait_for(timeout=90_000)
            await page.wait_for_url(f"{base}/")
            response = await asyncio.to_thread(_configmap, admin_http, namespace)
            assert response.status_code == 404
    finally:
        await sync.stop()
        await kube.aclose()
        await store.close()
