"""The catalogue's repositories in the store, on SQLite and PostgreSQL: added once, index
cached and read back as stored, removed with everything they had."""

from __future__ import annotations

from datetime import UTC, datetime

from helmguard.store import RepositoryRecord, Store

ENTRY = {
    "name": "web",
    "version": "1.2.0",
    "app_version": "2.0",
    "created": "2026-11-30T10:00:00Z",
    "description": "a web app",
    "keywords": ["web", "ünïcode"],
    "deprecated": False,
    "urls": ["web-1.2.0.tgz"],
    "digest": "0" * 64,
}


async def test_add_index_list_remove(store: Store) -> None:
    added_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    record = RepositoryRecord(
        "charts", "https://charts.example", "helm", "u", "sealed", "/ca.pem", True, added_at
    )
    assert await store.add_repository(record)
    assert not await store.add_repository(record)  # the name is taken; nothing changes
    fetched = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    assert await store.set_repository_index("charts", [ENTRY], fetched)
    assert not await store.set_repository_index("absent", [ENTRY], fetched)
    got = await store.get_repository("charts")
    assert got is not None
    assert (got.url, got.kind, got.username, got.secret, got.ca_file, got.insecure) == (
        "https://charts.example",
        "helm",
        "u",
        "sealed",
        "/ca.pem",
        True,
    )
    assert got.added_at == added_at and got.index_fetched_at == fetched
    assert got.index is not None and [dict(e) for e in got.index] == [ENTRY]
    listed = await store.list_repositories()
    assert [r.name for r in listed] == ["charts"] and listed[0].index is None
    assert await store.remove_repository("charts")
    assert not await store.remove_repository("charts")
    assert await store.get_repository("charts") is None
