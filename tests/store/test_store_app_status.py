"""A release's app status: columns of the release, its transitions in history under app_ref."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from helmguard.manifest import ObjectRef
from helmguard.store import (
    AppRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    Store,
    app_ref,
    open_store,
)
from helmguard.store.db import Backend, database_revision, resolve
from helmguard.store.migrate import HEAD
from store.conftest import RELEASE
from store.test_store_writer import T0

SA = ObjectRef("", "ServiceAccount", "shop", "vault-svc")
DEPLOY = ObjectRef("apps", "Deployment", "shop", "common-vault")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def blocked(second: int, observed: int | None = None) -> AppRecord:
    return AppRecord(
        "Blocked",
        "FailedCreate",
        f"{DEPLOY}: serviceaccount vault-svc not found",
        at(second),
        at(second if observed is None else observed),
        root_cause=SA,
    )


async def test_app_status_is_stored_with_the_release_and_its_changes_are_history(
    store: Store,
) -> None:
    release = await store.get_release(RELEASE)
    assert release is not None and release.app is None  # never observed

    assert await store.upsert_statuses(apps=[(RELEASE, blocked(1))]) == ([], [True])
    release = await store.get_release(RELEASE)
    assert release is not None and release.app == blocked(1)
    # The same status observed later: observed_at moves, since and history stay.
    assert await store.upsert_statuses(apps=[(RELEASE, blocked(5, observed=9))]) == ([], [False])
    release = await store.get_release(RELEASE)
    assert release is not None and release.app is not None
    assert (release.app.since, release.app.observed_at) == (at(1), at(9))

    ready = AppRecord("Ready", "Ready", "all 1 resources ready", at(20), at(20))
    await store.upsert_statuses(apps=[(RELEASE, ready)])
    release = await store.get_release(RELEASE)
    assert release is not None and release.app == ready
    history = await store.history(RELEASE, ref=app_ref(RELEASE))
    assert [(t.from_state, t.to_state, t.root_cause) for t in history] == [
        ("Blocked", "Ready", None),
        (None, "Blocked", SA),
    ]
    assert history[1].message == blocked(1).message and history[1].at == at(1)
    # No object row stands for the release: its objects are all there is.
    assert await store.list_resources(RELEASE) == []


async def test_objects_and_apps_in_one_transaction_in_order(store: Store) -> None:
    other = ReleaseKey("shop", "other")
    await store.record_release(ReleaseRecord(other, "web", "1"))
    dep = ObservedStatus(DEPLOY, "Blocked", "FailedCreate", "no SA", at(1), at(1), root_cause=SA)
    progressing = AppRecord("Progressing", "Scaling", "", at(2), at(2))
    results = await store.upsert_statuses(
        [(RELEASE, dep), (ReleaseKey("shop", "nope"), dep)],
        [
            (RELEASE, blocked(1)),
            (other, progressing),
            (RELEASE, AppRecord("Ready", "Ready", "", at(3), at(3))),
            (ReleaseKey("shop", "nope"), progressing),
        ],
    )
    assert results == ([True, None], [True, True, True, None])
    release, second = await store.get_release(RELEASE), await store.get_release(other)
    assert release is not None and release.app is not None and release.app.state == "Ready"
    assert second is not None and second.app == progressing
    history = list(reversed(await store.history(RELEASE)))
    assert [(t.ref, t.from_state, t.to_state) for t in history] == [
        (DEPLOY, None, "Blocked"),
        (app_ref(RELEASE), None, "Blocked"),
        (app_ref(RELEASE), "Blocked", "Ready"),
    ]


async def test_recording_the_release_keeps_its_app_status(store: Store) -> None:
    await store.upsert_statuses(apps=[(RELEASE, blocked(1))])
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.4", 2, "deployed"))
    release = await store.get_release(RELEASE)
    assert release is not None
    assert (release.status, release.current_revision, release.app) == ("deployed", 2, blocked(1))
    [listed] = await store.list_releases()
    assert listed.app == blocked(1)


async def test_a_database_at_0003_moves_app_rows_into_the_release(db_url: str) -> None:
    """Before 0004 the sync stored the app as a helmguard.io/Release row and in `status`."""
    from alembic import command

    from helmguard.store.migrate import _config

    backend = Backend(resolve(db_url), writer=True)
    statements = [
        "INSERT INTO releases (id, cluster, namespace, name, chart, chart_version, "
        "current_revision, status, updated_at) VALUES "
        "(1, '', 'shop', 'web', 'web', '1', 2, 'Blocked', '2026-12-01 00:00:00'), "
        "(2, '', 'shop', 'new', 'web', '1', 1, 'deploying', '2026-12-01 00:00:00')",
        "INSERT INTO revisions (release_id, number, chart, chart_version, values_digest, "
        "outcome, started_at) VALUES (1, 1, 'web', '1', 'd', 'superseded', "
        "'2026-12-01 00:00:00'), (1, 2, 'web', '1', 'd', 'deployed', '2026-12-01 00:00:00'), "
        "(2, 1, 'web', '1', 'd', 'running', '2026-12-01 00:00:00')",
        "INSERT INTO resources (release_id, api_group, kind, namespace, name, state, reason, "
        "message, since, observed_at, resource_version, root_cause) VALUES "
        "(1, 'helmguard.io', 'Release', 'shop', 'web', 'Blocked', 'FailedCreate', 'no SA', "
        "'2026-12-01 00:00:01', '2026-12-01 00:00:05', '', "
        """'{"group": "", "kind": "ServiceAccount", "namespace": "shop", "name": "vault-svc"}'), """
        "(1, 'apps', 'Deployment', 'shop', 'common-vault', 'Blocked', 'FailedCreate', "
        "'no SA', '2026-12-01 00:00:01', '2026-12-01 00:00:05', '7', NULL)",
        "INSERT INTO status_transitions (release_id, api_group, kind, namespace, name, "
        "from_state, to_state, reason, message, at) VALUES (1, 'helmguard.io', 'Release', "
        "'shop', 'web', NULL, 'Blocked', 'FailedCreate', 'no SA', '2026-12-01 00:00:01')",
    ]
    try:
        await backend.run(lambda c: command.upgrade(_config(c), "0003_revision_inventory"))
        for statement in statements:
            await backend.run(lambda c, s=statement: c.execute(text(s)))
    finally:
        await backend.dispose()

    async with await open_store(db_url) as store:
        web, new = ReleaseKey("shop", "web"), ReleaseKey("shop", "new")
        release = await store.get_release(web)
        assert release is not None and release.status == "deployed"  # its latest outcome
        assert release.app is not None
        assert (release.app.state, release.app.reason, release.app.root_cause) == (
            "Blocked",
            "FailedCreate",
            SA,
        )
        assert (release.app.since, release.app.observed_at) == (
            datetime.fromisoformat("2026-12-01T00:00:01+00:00"),
            datetime.fromisoformat("2026-12-01T00:00:05+00:00"),
        )
        assert [r.ref for r in await store.list_resources(web)] == [DEPLOY]
        assert [t.to_state for t in await store.history(web, ref=app_ref(web))] == ["Blocked"]
        untouched = await store.get_release(new)
        assert untouched is not None and (untouched.status, untouched.app) == ("deploying", None)
    assert (await database_revision(db_url))[1] == HEAD
