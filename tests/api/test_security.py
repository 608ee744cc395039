"""Auth, limits, hostile input: 401 before anything happens, 413, 422 naming the field."""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from api.conftest import AUTH, REPO, SEED_CHART, TOKEN, running
from helmguard.api.app import create_app, default_allowed_hosts
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, ReleaseRecord, RevisionRecord, Store

CHECK = {"chart": "vault-seed", "release": "common", "namespace": "msga-cn"}


async def test_missing_or_wrong_token_is_401_and_nothing_is_done(seeded: Store) -> None:
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"])
    uploads = Path(app.state.upload_dir)
    async for client in running(app):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            for method, path in (
                ("GET", "/api/releases"),
                ("GET", "/api/releases/msga-cn/common"),
                ("GET", "/api/releases/msga-cn/common/graph"),
                ("GET", "/api/stream"),
                ("GET", "/metrics"),
            ):
                answer = await client.request(method, path, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.headers["www-authenticate"].startswith("Bearer")
            upload = await client.put("/api/charts", content=b"\x1f\x8b junk", headers=headers)
            assert upload.status_code == 401
            check = await client.post("/api/check", json=CHECK, headers=headers)
            assert check.status_code == 401
        assert await asyncio.to_thread(lambda: list(uploads.iterdir())) == []
        assert (await client.get("/healthz")).status_code == 200


async def test_public_read_still_needs_the_token_to_write(seeded: Store) -> None:
    app = create_app(seeded, token=TOKEN, public_read=True, chart_roots=[REPO / "examples"])
    async for client in running(app):
        assert (await client.get("/api/releases")).status_code == 200
        assert (await client.get("/api/releases/msga-cn/common/graph")).status_code == 200
        assert (await client.post("/api/check", json=CHECK)).status_code == 401


async def test_no_cors_and_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/releases", headers={**AUTH, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = await client.options(
        "/api/check",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    page = await client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_malformed_json_and_fields_are_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    bad_json = await client.post(
        "/api/check", content=b'{"chart": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert bad_json.json()["detail"][0]["type"] == "json_invalid"
    no_chart = await client.post("/api/check", json={"values": "a: 1"}, headers=AUTH)
    assert no_chart.status_code == 422
    assert no_chart.json()["detail"][0]["loc"] == ["body", "chart"]
    wrong_type = await client.post("/api/check", json={"chart": ["x"]}, headers=AUTH)
    assert wrong_type.json()["detail"][0]["loc"] == ["body", "chart"]
    bad_limit = await client.get("/api/releases/msga-cn/common/events?limit=0", headers=AUTH)
    assert bad_limit.status_code == 422
    assert bad_limit.json()["detail"][0]["loc"] == ["query", "limit"]


async def test_malformed_values_yaml_is_422_naming_values(client: httpx.AsyncClient) -> None:
    deep = "a: " + "[" * 900 + "]" * 900
    deeper = "".join(" " * i + f"k{i}:\n" for i in range(1200)) + " " * 1200 + "v\n"
    levels = zip("abcdefgh", "bcdefghi", strict=True)
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in levels
    )
    for values, words in (
        ("replicas: [1, 2\nport: 1", "invalid YAML: error converting YAML to JSON: yaml: line 1"),
        ("- a\n- b\n", "not a mapping of keys to values"),
        ("a: 1\n---\n- x\n", "document 2 is not a mapping"),
        (deep, "nest deeper than 200 levels"),
        (deeper, "nest deeper than 200 levels"),
        ("a: " + "[" * 20000 + "]" * 20000, "exceeded max depth"),
        (laughs, "excessive aliasing"),
        ("a: \ud800", "unpaired surrogate at position 3"),
    ):
        # As JSON text with escapes, so a lone surrogate travels as `\ud800`, as it would.
        body = json.dumps({**CHECK, "values": values})
        answer = await client.post(
            "/api/check", content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (values[:40], answer.text[:300])
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "values"]
        assert words in error["msg"]


async def test_values_helm_reads_as_text_are_accepted(client: httpx.AsyncClient) -> None:
    # A 100,000-digit integer, an impossible date, non-string keys: Helm reads them all.
    for values in ("a: " + "9" * 100_000, "a: 2001-02-30", "1: a\ntrue: b\n"):
        answer = await client.post("/api/check", json={**CHECK, "values": values}, headers=AUTH)
        assert answer.status_code == 200, (values[:40], answer.text[:300])


async def test_values_over_the_limit_are_413(seeded: Store) -> None:
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"], max_values_bytes=4096)
    async for client in running(app):
        values = "a: " + "x" * 5000
        field = await client.post("/api/check", json={**CHECK, "values": values}, headers=AUTH)
        assert field.status_code == 413
        assert field.json()["detail"][0]["loc"] == ["body", "values"]
        huge = "b: " + "y" * 200_000
        body = await client.post("/api/check", json={**CHECK, "values": huge}, headers=AUTH)
        assert body.status_code == 413
        assert "over the limit" in body.json()["detail"]


@pytest.mark.parametrize(
    "chart",
    ["../../etc", "vault-seed/../../../etc", "/etc", "/", "..", "vault-seed/..%2f..", "a\x00b"],
)
async def test_chart_path_traversal_is_rejected(client: httpx.AsyncClient, chart: str) -> None:
    answer = await client.post("/api/check", json={**CHECK, "chart": chart}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "chart"]


@pytest.mark.parametrize(
    ("chart", "repo", "field", "words"),
    [
        ("../outside/colon://chartx", None, "chart", "`..` is not allowed"),
        ("vault-seed/x://../../etc", None, "chart", "`..` is not allowed"),
        ("file:///etc/passwd", None, "chart", "unsupported chart URL"),
        ("FILE://localhost/etc", None, "chart", "unsupported chart URL"),
        ("https://example.com/c.tgz", None, "chart", "unsupported chart URL"),
        ("oci://registry.example/../../etc", None, "chart", "not an OCI chart reference"),
        ("oci://", None, "chart", "not an OCI chart reference"),
        ("oci:///etc/passwd", None, "chart", "not an OCI chart reference"),
        ("upload:../../etc", None, "chart", "64 lowercase hex digits"),
        ("vault\tseed", None, "chart", "control characters"),
        ("vault", "file:///etc", "repo", "http:// or https:// URL"),
        ("vault", "../charts", "repo", "http:// or https:// URL"),
        ("vault", "http://[::1", "repo", "http:// or https:// URL"),
        ("../vault", "https://charts.example", "chart", "with `repo`, chart is a chart name"),
    ],
)
async def test_every_chart_reference_shape_goes_through_one_check(
    client: httpx.AsyncClient, chart: str, repo: str | None, field: str, words: str
) -> None:
    answer = await client.post(
        "/api/check", json={**CHECK, "chart": chart, "repo": repo}, headers=AUTH
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", field]
    assert words in error["msg"]


async def test_a_symlink_out_of_the_chart_root_is_rejected(seeded: Store, tmp_path: Path) -> None:
    root = tmp_path / "charts"
    root.mkdir()
    (root / "escape").symlink_to(SEED_CHART.resolve())
    app = create_app(seeded, token=TOKEN, chart_roots=[root])
    async for client in running(app):
        answer = await client.post("/api/check", json={**CHECK, "chart": "escape"}, headers=AUTH)
        assert answer.status_code == 422
        assert "outside the chart directories" in answer.json()["detail"][0]["msg"]


@pytest.fixture
def html_site() -> Iterator[str]:
    """A local web server answering every path with an HTML page (not a chart repository)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>not a chart</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_a_url_that_is_not_a_chart_is_422(client: httpx.AsyncClient, html_site: str) -> None:
    direct = await client.post(
        "/api/check", json={**CHECK, "chart": f"{html_site}/vault.tgz"}, headers=AUTH
    )
    assert direct.status_code == 422
    assert "unsupported chart URL" in direct.json()["detail"][0]["msg"]
    repo = await client.post(
        "/api/check", json={**CHECK, "chart": "vault", "repo": html_site}, headers=AUTH
    )
    assert repo.status_code == 422, repo.text
    [error] = repo.json()["detail"]
    assert error["loc"] == ["body", "chart"] and error["type"] == "chart_error"


def _archive(chart: Path) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.add(chart, arcname="vault")
    return data.getvalue()


async def test_uploaded_archive_is_checked_and_oversized_uploads_are_413(seeded: Store) -> None:
    archive = _archive(SEED_CHART)
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"], max_archive_bytes=64_000)
    async for client in running(app):
        uploaded = await client.put("/api/charts", content=archive, headers=AUTH)
        assert uploaded.status_code == 200
        chart = uploaded.json()["chart"]
        answer = await client.post("/api/check", json={**CHECK, "chart": chart}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert [f["code"] for f in answer.json()["findings"]] == ["HG101"]
        too_big = await client.put("/api/charts", content=b"\0" * 70_000, headers=AUTH)
        assert too_big.status_code == 413
        unknown = await client.post(
            "/api/check", json={**CHECK, "chart": "upload:" + "0" * 64}, headers=AUTH
        )
        assert unknown.status_code == 404


async def test_no_secret_data_in_any_response(store: Store) -> None:
    key = ReleaseKey("shop", "web")
    plaintext = "hunter2-unseal"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop"},
        "data": {"password": base64.b64encode(plaintext.encode()).decode()},
        "stringData": {"token": plaintext},
    }
    now = datetime.now(UTC)
    await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1))
    await store.record_revision(
        RevisionRecord(key, 1, "web", "1.0.0", "sha256:1", now, plan={"objects": [secret]})
    )
    await store.add_operation_log(key, 1, "apply", "applied", details={"object": secret})
    app = create_app(store, token=TOKEN)
    async for client in running(app):
        texts = []
        for path in ("", "/revisions/1", "/log", "/graph", "/history", "/events"):
            answer = await client.get(f"/api/releases/shop/web{path}", headers=AUTH)
            assert answer.status_code == 200
            texts.append(answer.text)
        everything = "\n".join(texts)
        assert "Secret shop/creds" in everything
        assert plaintext not in everything
        assert secret["data"]["password"] not in everything


async def test_deploy_disabled_is_403_and_an_unreachable_cluster_fails_the_operation(
    seeded: Store, tmp_path: Path
) -> None:
    from helmguard.deploy import DeployOptions

    off = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"])
    async for client in running(off):
        answer = await client.post("/api/deploy", json=CHECK, headers=AUTH)
        assert answer.status_code == 403
        assert "not enabled" in answer.json()["detail"]
    options = DeployOptions(kubeconfig=str(tmp_path / "no-kubeconfig"), timeout=5)
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"], deploy_options=options)
    async for client in running(app):
        assert (await client.post("/api/deploy", json=CHECK)).status_code == 401
        bad = await client.post("/api/deploy", json={**CHECK, "chart": "../x"}, headers=AUTH)
        assert bad.status_code == 422
        started = await client.post("/api/deploy", json=CHECK, headers=AUTH)
        assert started.status_code == 202
        location = started.headers["location"]
        for _ in range(200):
            op = (await client.get(location, headers=AUTH)).json()
            if op["state"] != "running":
                break
            await asyncio.sleep(0.05)
        assert op["state"] == "error"
        assert "no-kubeconfig" in op["error"]
        gone = await client.post("/api/releases/nowhere/none/uninstall", json={}, headers=AUTH)
        assert gone.status_code == 404


def test_the_default_host_allow_list_on_loopback_and_elsewhere() -> None:
    assert default_allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert default_allowed_hosts("127.0.0.2") == ["127.0.0.2", "localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("::1", ["hg.internal"]) == [
        "[::1]",
        "localhost",
        "127.0.0.1",
        "hg.internal",
    ]
    assert default_allowed_hosts("localhost") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("0.0.0.0") is None
    assert default_allowed_hosts("10.1.2.3", ["hg.example"]) == ["hg.example"]


async def test_a_foreign_host_header_is_refused(seeded: Store) -> None:
    app = create_app(
        seeded, token=TOKEN, public_read=True, allowed_hosts=default_allowed_hosts("127.0.0.1")
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c,
    ):
        for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST"):
            answer = await c.get("/api/releases", headers={"Host": host})
            assert answer.status_code == 200, (host, answer.text)
        for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", ""):
            answer = await c.get("/api/releases", headers={"Host": host})
            assert answer.status_code == 400, (host, answer.text)
            write = await c.post("/api/check", json=CHECK, headers={**AUTH, "Host": host})
            assert write.status_code == 400, host


async def test_an_anonymous_reader_learns_names_and_states_only(store: Store) -> None:
    key = ReleaseKey("shop", "web")
    plaintext, setting = "hunter2-unseal", "feature-flag-value-93"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop"},
        "stringData": {"token": plaintext},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"flag": setting},
    }
    digest = "sha256:" + "ab" * 32
    now = datetime.now(UTC)
    await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1))
    await store.record_revision(
        RevisionRecord(key, 1, "web", "1.0.0", digest, now, plan={"objects": [secret, config]})
    )
    await store.add_operation_log(key, 1, "apply", "applied", details={"object": config})
    app = create_app(store, token=TOKEN, public_read=True)
    paths = ["", "/revisions", "/revisions/1", "/log", "/graph", "/history", "/events"]
    async for client in running(app):
        anonymous = []
        for path in paths:
            answer = await client.get(f"/api/releases/shop/web{path}")
            assert answer.status_code == 200, (path, answer.text)
            anonymous.append(answer.text)
        anonymous.append((await client.get("/api/releases")).text)
        seen = "\n".join(anonymous)
        assert "web" in seen and '"outcome"' in seen  # names and states are public
        for hidden in (digest, "ab" * 32, plaintext, setting):
            assert hidden not in seen, hidden
        revision = (await client.get("/api/releases/shop/web/revisions/1")).json()
        assert revision["values_digest"] is None and revision["plan"] is None
        # With the token, the same reads show the digest and the (redacted) plan.
        full = await client.get("/api/releases/shop/web/revisions/1", headers=AUTH)
        assert full.json()["values_digest"] == digest
        assert setting in full.text and plaintext not in full.text


async def test_an_anonymous_reader_gets_operation_steps_without_details(
    store: Store, sandbox: Sandbox, namespace: str
) -> None:
    from helmguard.deploy import DeployOptions

    options = DeployOptions(
        kubeconfig=str(sandbox.kubeconfig), context=sandbox.admin_context, timeout=30
    )
    app = create_app(
        store,
        token=TOKEN,
        public_read=True,
        chart_roots=[REPO / "examples"],
        deploy_options=options,
    )
    async for client in running(app):
        # Preflight refuses the seed chart (the missing ServiceAccount): steps with details.
        started = await client.post(
            "/api/deploy", json={**CHECK, "namespace": namespace}, headers=AUTH
        )
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        for _ in range(300):
            full = (await client.get(location, headers=AUTH)).json()
            if full["state"] != "running":
                break
            await asyncio.sleep(0.1)
        assert full["state"] == "done", full
        anonymous = (await client.get(location)).json()
        assert [s["step"] for s in anonymous["steps"]] == [s["step"] for s in full["steps"]]
        assert any(s["details"] for s in full["steps"])
        assert all(s["details"] == {} for s in anonymous["steps"])
