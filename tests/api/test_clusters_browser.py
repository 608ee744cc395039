"""The page over releases of one name on three clusters, in real headless Chromium: the list
shows and filters by cluster (kept in the URL fragment), each cluster's shop/web opens with
its own status, the unreachable cluster is red with the supervisor's reason, and the live
stream of a release page carries only that cluster's changes."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from api.clusterstore import DEFAULT, EAST, WORKER, fill_clusters, set_app_status
from api.conftest import TOKEN
from api.live import serving
from api.test_browser import _page, _shot, browser, pytestmark
from helmguard.api.app import create_app
from helmguard.deploy import DeployOptions
from helmguard.store import ReleaseRecord, Store, open_store

__all__ = ["browser", "pytestmark"]  # the Chromium fixture and skip mark of test_browser


@pytest.fixture
async def base(store: Store, tmp_path: Path) -> AsyncIterator[tuple[Store, str, str]]:
    """The page's server over the three clusters; (store, base URL, west's server)."""
    holder, server = await fill_clusters(store, tmp_path)
    app = create_app(store, token=TOKEN, poll_interval=0.05)
    async with serving(app) as url:
        yield store, url, server
    await store.release_sync("", holder)


async def _rows(page: Page) -> list[tuple[str, str, str]]:
    rows = page.locator("#releases tbody tr")
    return [
        (
            str(await row.get_attribute("data-cluster")),
            str(await row.get_attribute("data-release")),
            str(await row.get_attribute("data-state")),
        )
        for row in await rows.all()
    ]


async def test_the_list_shows_and_filters_by_cluster_and_marks_the_unreachable_one(
    base: tuple[Store, str, str], browser: Browser
) -> None:
    _, url, server = base
    page = await _page(browser)
    await page.goto(f"{url}/#token={TOKEN}")
    await page.wait_for_selector("#releases tbody tr")
    assert sorted(await _rows(page)) == [
        ("", "shop/web", "Ready"),
        ("east", "shop/api", "Unknown"),
        ("east", "shop/web", "Blocked"),
        ("west", "shop/web", "Unknown"),
    ]
    cells = {
        str(await c.get_attribute("data-cluster")): await c.inner_text()
        for c in await page.locator("#releases td.cluster").all()
    }
    assert cells[""] == "(default)" and cells["east"] == "east"
    assert cells["west"].split() == ["west", "unreachable"]
    # West cannot be reached: a red banner naming the address, never a green badge.
    banner = page.locator('.banner.unreachable[data-cluster="west"]')
    text = await banner.inner_text()
    assert "Cluster west unreachable (1 release(s) stored Unknown)" in text
    assert server.removeprefix("https://") in text
    west = page.locator('#clusters button[data-cluster="west"]')
    assert await west.get_attribute("data-reachable") == "false"
    assert "unreachable" in await west.inner_text()
    default = await page.locator('#clusters button[data-cluster=""]').inner_text()
    assert "(default)" in default and "synced (last heartbeat" in default
    assert "no sync running" in await page.locator('#clusters [data-cluster="east"]').inner_text()
    await _shot(page, "clusters-list")

    # Filter by cluster: the list asks the API for east's, the stream carries east's only,
    # and the fragment keeps the choice across a reload.
    await page.select_option("#filter-cluster", "east")
    await page.wait_for_function(
        "() => document.querySelectorAll('#releases tbody tr').length === 2"
    )
    assert sorted(await _rows(page)) == [
        ("east", "shop/api", "Unknown"),
        ("east", "shop/web", "Blocked"),
    ]
    assert await page.evaluate("location.hash") == "#cluster=east"
    await page.wait_for_function(
        "() => document.getElementById('live').dataset.stream === '/api/stream?cluster=east'"
    )
    assert await page.locator(".banner.unreachable").count() == 0
    await page.reload()
    await page.wait_for_function(
        "() => document.querySelectorAll('#releases tbody tr').length === 2"
    )
    assert await page.locator("#filter-cluster").input_value() == "east"
    # The default cluster is a cluster of its own, not "all".
    await page.goto(f"{url}/#cluster=&state=Ready")
    await page.wait_for_function(
        "() => document.querySelectorAll('#releases tbody tr').length === 1"
    )
    assert await _rows(page) == [("", "shop/web", "Ready")]
    assert await page.locator("#filter-cluster").input_value() == ""
    await page.wait_for_function(
        "() => document.getElementById('live').dataset.stream === '/api/stream?cluster='"
    )
    await page.select_option("#filter-cluster", "*")
    await page.wait_for_function(
        "() => document.querySelectorAll('#releases tbody tr').length === 1"
    )
    assert await page.evaluate("location.hash") == "#state=Ready"


async def test_the_same_name_opens_with_its_own_status_on_each_cluster(
    base: tuple[Store, str, str], browser: Browser
) -> None:
    _, url, server = base
    page = await _page(browser)
    await page.goto(f"{url}/#token={TOKEN}")
    seen = {}
    for cluster, label in (("", "(default)"), ("east", "east"), ("west", "west")):
        await page.goto(f"{url}/")
        link = page.locator(f'#releases tr[data-cluster="{cluster}"][data-release="shop/web"] a')
        await link.click()
        await page.wait_for_selector('#release-page[data-rendered="true"]')
        head = page.locator("#release-status")
        assert await page.locator("#release-cluster").get_attribute("data-cluster") == cluster
        assert label in await page.locator("#release-cluster").inner_text()
        seen[cluster] = (
            await head.locator("h1 .badge").get_attribute("data-state"),
            await page.locator("#release-message").inner_text(),
            await page.locator(".banner.unreachable").count(),
        )
        # Every call the page made for this release named its cluster.
        assert await page.evaluate("document.getElementById('live').dataset.stream") == (
            "/api/stream?namespace=shop&name=web" + (f"&cluster={cluster}" if cluster else "")
        )
    assert seen[""] == ("Ready", "Deployment.apps shop/web: 1 of 1 available", 0)
    assert seen["east"] == (
        "Blocked",
        "Deployment.apps shop/web: serviceaccount east-sa not found",
        0,
    )
    state, message, banners = seen["west"]
    assert (state, banners) == ("Unknown", 1) and server.removeprefix("https://") in message
    await _shot(page, "clusters-release-unreachable")
    # The back link returns to the release's cluster.
    await page.click("#back")
    await page.wait_for_selector("#releases tbody tr")
    assert {c for c, _, _ in await _rows(page)} == {"west"}


async def test_a_release_page_follows_only_its_own_cluster_live(
    base: tuple[Store, str, str], browser: Browser
) -> None:
    store, url, _ = base
    page = await _page(browser)
    await page.goto(f"{url}/?release=shop/web&cluster=east#token={TOKEN}")
    await page.wait_for_selector('#release-page[data-rendered="true"]')
    badge = page.locator("#release-status h1 .badge")
    assert await badge.get_attribute("data-state") == "Blocked"
    await page.wait_for_function("() => document.getElementById('live').className === 'live on'")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/releases/" in r.url else None)
    # The default cluster's shop/web fails: east's page neither changes nor reloads its data.
    await set_app_status(store, DEFAULT, "Failed", "CrashLoopBackOff", "back-off restarting")
    await asyncio.sleep(1.5)
    assert await badge.get_attribute("data-state") == "Blocked"
    assert asked == []
    # East's own change arrives without a reload, read from east.
    await set_app_status(store, EAST, "Ready", "Available", "1 of 1 available")
    await page.wait_for_function(
        "() => document.querySelector('#release-status h1 .badge').dataset.state === 'Ready'"
    )
    assert asked and all("cluster=east" in u for u in asked), asked


async def test_a_sync_that_died_holding_its_lease_is_said(tmp_path: Path, browser: Browser) -> None:
    """Its releases keep their last stored status: the page says it is no longer kept."""
    db = str(tmp_path / "helmguard.db")
    async with await open_store(db) as writer:
        await writer.record_release(ReleaseRecord(DEFAULT, "web", "1.0.0"))
        await set_app_status(writer, DEFAULT, "Ready", "Available", "1 of 1 available")
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), "lease", db, stdin=PIPE, stdout=PIPE
    )
    assert worker.stdout is not None
    assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"held"
    worker.kill()
    await worker.wait()
    store = await open_store(db, read_only=True)
    try:
        async with serving(create_app(store, token=TOKEN, poll_interval=0.05)) as url:
            page = await _page(browser)
            await page.goto(f"{url}/#token={TOKEN}")
            banner = page.locator('.banner.stale[data-cluster=""]')
            assert "Cluster (default): its sync stopped" in await banner.inner_text()
            assert "sync stopped" in await page.locator("#clusters").inner_text()
            await page.goto(f"{url}/?release=shop/web")
            await banner.wait_for()
            assert await page.locator(".banner.unreachable").count() == 0
    finally:
        await store.close()


async def test_actions_are_offered_only_where_the_deploy_routes_act(
    store: Store, tmp_path: Path, browser: Browser
) -> None:
    """This server deploys to the default cluster and east, not west: west's shop/web (same
    name) gets no actions; east's act on east (`?cluster=east`), never on the default's."""
    holder, _ = await fill_clusters(store, tmp_path)
    app = create_app(
        store,
        token=TOKEN,
        poll_interval=0.05,
        deploy_options=DeployOptions(),
        cluster_deploys={"east": DeployOptions(context="east")},
    )
    try:
        async with serving(app) as url:
            page = await _page(browser)
            await page.goto(f"{url}/?release=shop/web&cluster=west#token={TOKEN}")
            await page.wait_for_selector('#release-page[data-rendered="true"]')
            note = await page.locator("#actions-elsewhere").inner_text()
            assert "does not deploy to cluster west" in note
            assert await page.locator("#rollback, #uninstall, #upgrade").count() == 0

            await page.goto(f"{url}/?release=shop/web&cluster=east")
            await page.wait_for_selector('#release-page[data-rendered="true"]')
            assert await page.locator("#actions-elsewhere").count() == 0
            upgrade = await page.locator("#upgrade").get_attribute("href")
            assert upgrade == "/?view=deploy&upgrade=shop%2Fweb&cluster=east", upgrade
            # East's release forgotten meanwhile: the uninstall asks about east's (404 naming
            # it), not about the default cluster's shop/web, which is still recorded.
            assert await store.delete_release(EAST)
            await page.locator("#uninstall").click()
            await page.locator("#confirm-action").click()
            refusal = await page.locator("#action-error").inner_text()
            assert refusal.startswith("uninstall: ") and "east" in refusal, refusal
            assert await store.get_release(DEFAULT) is not None

            await page.goto(f"{url}/?release=shop/web")
            await page.wait_for_selector('#release-page[data-rendered="true"]')
            assert await page.locator("#uninstall").count() == 1
    finally:
        await store.release_sync("", holder)
