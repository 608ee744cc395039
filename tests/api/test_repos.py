"""The catalogue's API: repositories served by a real HTTP server from charts helm packaged.

Credentials go in and never come out: no answer of any catalogue route (nor the database
file) carries the user name, password or token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.conftest import AUTH, REPO, TOKEN, running
from chartrepo import README, serve_repository
from helmguard.api.app import create_app
from helmguard.store import Store

USER, PASSWORD, BEARER = "chart-reader", "pw-9f2c1e-not-in-any-answer", "tok-77ab3d-not-either"


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, token=TOKEN, chart_roots=[REPO / "examples"], poll_interval=0.05)
    async for c in running(app):
        yield c


def _database_bytes(tmp_path: Path) -> bytes:
    """The SQLite file with its WAL: everything the store wrote."""
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("helmguard.db*")))


def _clean(response: httpx.Response) -> httpx.Response:
    for secret in (USER, PASSWORD, BEARER):
        assert secret not in response.text, (response.request.url, response.text)
    return response


async def test_basic_auth_repository_searched_and_read_without_leaking_credentials(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with serve_repository(tmp_path, basic=(USER, PASSWORD)) as url:
        body = {"name": "private", "url": url, "username": USER, "password": PASSWORD}
        added = _clean(await client.post("/api/repos", json=body, headers=AUTH))
        assert added.status_code == 201, added.text
        assert added.json()["auth"] == "basic"
        assert added.json()["charts"] == 1
        listed = _clean(await client.get("/api/repos", headers=AUTH)).json()
        assert [(r["name"], r["kind"], r["auth"]) for r in listed] == [("private", "helm", "basic")]
        assert set(listed[0]) == {
            "name",
            "url",
            "kind",
            "auth",
            "ca_file",
            "insecure_skip_tls_verify",
            "added_at",
            "updated_at",
            "charts",
        }
        assert _clean(await client.post("/api/repos/private/update", headers=AUTH)).is_success
        found = _clean(await client.get("/api/catalogue?q=CATALOGUE-test", headers=AUTH)).json()
        assert [(c["repository"], c["name"], c["latest"]["version"]) for c in found] == [
            ("private", "webapp", "0.2.0")
        ]
        assert (
            _clean(await client.get("/api/catalogue?q=nothing-like-it", headers=AUTH)).json() == []
        )
        versions = _clean(await client.get("/api/repos/private/charts/webapp", headers=AUTH))
        assert [(v["version"], v["app_version"]) for v in versions.json()] == [
            ("0.2.0", "1.1"),
            ("0.1.0", "1.0"),
        ]
        assert all(v["created"] for v in versions.json())
        info = _clean(
            await client.get("/api/repos/private/charts/webapp/versions/0.1.0", headers=AUTH)
        ).json()
        assert (info["name"], info["version"], info["app_version"]) == ("webapp", "0.1.0", "1.0")
        assert info["readme"] == README
        assert "replicaCount: 1" in info["values"]
        assert '"maximum": 5' in info["schema"]
        assert info["chart"].startswith("upload:")
        # The downloaded version is checked and deployed as an upload, without credentials.
        check = await client.post(
            "/api/check",
            json={"chart": info["chart"], "release": "web", "namespace": "demo"},
            headers=AUTH,
        )
        assert check.status_code == 200, check.text
        assert "HG101" in {f["code"] for f in check.json()["findings"]}
        again = _clean(await client.get(f"/api/charts/info?chart={info['chart']}", headers=AUTH))
        assert again.json()["readme"] == README
    database = await asyncio.to_thread(_database_bytes, tmp_path)
    assert b"gAAAAA" in database  # the sealed password (a Fernet token) is what is stored
    assert PASSWORD.encode() not in database


async def test_bearer_token_repository_and_wrong_credentials_leave_nothing(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with serve_repository(tmp_path, token=BEARER) as url:
        wrong = await client.post(
            "/api/repos", json={"name": "tok", "url": url, "token": "not-it"}, headers=AUTH
        )
        assert wrong.status_code == 422
        assert "HTTP 401" in wrong.text and "credentials" in wrong.text
        assert (await client.get("/api/repos", headers=AUTH)).json() == []
        added = _clean(
            await client.post(
                "/api/repos", json={"name": "tok", "url": url, "token": BEARER}, headers=AUTH
            )
        )
        assert added.status_code == 201, added.text
        assert added.json()["auth"] == "token"
        info = await client.get("/api/repos/tok/charts/webapp/versions/0.2.0", headers=AUTH)
        assert _clean(info).json()["app_version"] == "1.1"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "Bad Name", "url": "https://example.invalid"}, 422, "repository name"),
        ({"name": "ok", "url": "ftp://example.invalid"}, 422, "http:// or https://"),
        ({"name": "ok", "url": "https://u:p@example.invalid"}, 422, "credentials in the URL"),
        ({"name": "ok", "url": "https://example.invalid", "password": "x"}, 422, "--username"),
        ({"name": "ok", "url": "oci://example.invalid/charts", "token": "t"}, 422, "no token"),
        ({"name": "ok", "url": "https://example.invalid", "ca_file": "/nope"}, 422, "no such"),
        ({"name": "ok", "url": "http://127.0.0.1:1"}, 422, "cannot fetch"),
    ],
)
async def test_bad_repositories_are_refused_with_the_reason(
    client: httpx.AsyncClient, body: dict[str, str], status: int, words: str
) -> None:
    response = await client.post("/api/repos", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert words in response.text
    assert (await client.get("/api/repos", headers=AUTH)).json() == []


async def test_repository_lifecycle_errors_and_the_token(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await client.post("/api/repos", json={"name": "a", "url": "x"})).status_code == 401
    assert (await client.get("/api/repos")).status_code == 401
    with serve_repository(tmp_path) as url:
        body = {"name": "pub", "url": url}
        assert (await client.post("/api/repos", json=body, headers=AUTH)).status_code == 201
        duplicate = await client.post("/api/repos", json=body, headers=AUTH)
        assert duplicate.status_code == 409 and "already registered" in duplicate.text
        assert (await client.delete("/api/repos/pub")).status_code == 401
    missing = await client.get("/api/repos/pub/charts/nope", headers=AUTH)
    assert missing.status_code == 404 and "no chart 'nope'" in missing.text
    bad_version = await client.get("/api/repos/pub/charts/webapp/versions/a b", headers=AUTH)
    assert bad_version.status_code == 422
    assert (await client.delete("/api/repos/pub", headers=AUTH)).status_code == 204
    assert (await client.delete("/api/repos/pub", headers=AUTH)).status_code == 404
    assert (await client.post("/api/repos/pub/update", headers=AUTH)).status_code == 404
    assert (await client.delete("/api/repos/UPPER", headers=AUTH)).status_code == 422


async def test_local_charts_are_listed_and_described(client: httpx.AsyncClient) -> None:
    local = (await client.get("/api/charts/local", headers=AUTH)).json()
    seed = [c for c in local if c["name"] == "vault"]
    assert seed and seed[0]["chart"] == str(REPO / "examples" / "vault-seed")
    info = await client.get(f"/api/charts/info?chart={seed[0]['chart']}", headers=AUTH)
    assert info.status_code == 200, info.text
    assert info.json()["name"] == "vault"
    outside = await client.get("/api/charts/info?chart=/etc", headers=AUTH)
    assert outside.status_code == 422 and "outside the chart directories" in outside.text


async def test_values_check_marks_the_line_the_field_and_the_diff(
    client: httpx.AsyncClient,
) -> None:
    defaults = "replicaCount: 1\nimage: pause\nextra:\n  keep: true\n"
    schema = '{"properties": {"replicaCount": {"type": "integer", "maximum": 5}}}'

    async def check(values: str) -> dict[str, object]:
        body = {"values": values, "defaults": defaults, "schema": schema}
        response = await client.post("/api/values/check", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    broken = await check("image: x\nreplicaCount: 1: 2\n")
    assert broken["yaml"] == {
        "message": "mapping values are not allowed in this context",
        "line": 2,
    }
    refused = await check("replicaCount: 9\n")
    assert refused["yaml"] is None
    assert refused["schema_problems"] == [
        {
            "pointer": "/replicaCount",
            "path": "replicaCount",
            "message": "9 is greater than the maximum of 5",
        }
    ]
    fine = await check("replicaCount: 3\nextra: null\nnew: {a: [1]}\n")
    assert fine["schema_problems"] == []
    assert fine["diff"] == [
        {"path": "extra", "change": "removed", "default": {"keep": True}, "value": None},
        {"path": "new", "change": "added", "default": None, "value": {"a": [1]}},
        {"path": "replicaCount", "change": "changed", "default": 1, "value": 3},
    ]
    assert (await client.post("/api/values/check", json={"values": "a: 1"})).status_code == 401
