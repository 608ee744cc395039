"""Hostile chart references, values and archives against /api/check, /api/deploy and
PUT /api/charts (hypothesis, bounded): never a 5xx, never a file outside the chart roots
opened, read or written.

"Outside" is a real chart and a secret file next to the chart root, reachable by `..`,
absolute paths, URL-looking references and symlinks from inside the root. Linux inotify
watches it, so an open by any thread of the process counts, the Go Helm engine's included.
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import os
import shutil
import struct
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.conftest import AUTH, SEED_CHART, TOKEN, seed_store
from api.live import serving
from helmguard.api.app import create_app
from helmguard.api.uploads import UploadCache
from helmguard.deploy import DeployOptions
from helmguard.store import open_store

pytestmark = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux inotify")

_IN_ACCESS, _IN_MODIFY, _IN_OPEN, _IN_CREATE = 0x1, 0x2, 0x20, 0x100
_IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")


class Watch:
    """inotify on every directory of a tree: who opened, read, wrote or created what."""

    def __init__(self, root: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(_IN_NONBLOCK)
        assert self._fd >= 0, os.strerror(ctypes.get_errno())
        self._dirs: dict[int, Path] = {}
        mask = _IN_ACCESS | _IN_MODIFY | _IN_OPEN | _IN_CREATE
        for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            wd = self._libc.inotify_add_watch(self._fd, str(directory).encode(), mask)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self._dirs[wd] = directory

    def events(self) -> list[str]:
        """What happened since the last call, as `path (mask)` lines."""
        seen: list[str] = []
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return seen
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0").decode()
                offset += length
                seen.append(f"{self._dirs.get(wd, '?')}/{name} (mask {mask:#x})")

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True)
class Site:
    url: str
    root: Path
    outside: Path
    watch: Watch
    tmp: Path  # the process's temporary directory while the module runs


def _layout(base: Path) -> tuple[Path, Path]:
    root, outside = base / "charts", base / "outside"
    shutil.copytree(SEED_CHART, root / "vault-seed")
    shutil.copytree(SEED_CHART, outside / "chart")
    # A chart whose path looks like a URL once joined: `../outside/colon://chartx`.
    shutil.copytree(SEED_CHART, outside / "colon:" / "chartx")
    (outside / "secret.txt").write_text("the outside must not be read\n")
    (root / "escape").symlink_to(outside / "chart")
    (root / "escape-file").symlink_to(outside / "secret.txt")
    return root, outside


def _serve(base: Path, ready: threading.Event, stop: threading.Event, url: list[str]) -> None:
    async def main() -> None:
        async with await open_store(str(base / "helmguard.db")) as store:
            await seed_store(store)
            options = DeployOptions(kubeconfig=str(base / "no-kubeconfig"), timeout=5)
            app = create_app(
                store,
                token=TOKEN,
                chart_roots=[base / "charts"],
                uploads=UploadCache(base / "uploads"),
                deploy_options=options,
            )
            async with serving(app) as address:
                url.append(address)
                ready.set()
                await asyncio.to_thread(stop.wait)

    asyncio.run(main())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = Path(tmp_path_factory.mktemp("fuzz"))
    root, outside = _layout(base)
    watch = Watch(outside)
    # A temporary directory of its own (Python's and Go's), to see what is left in it.
    tmp = base / "tmp"
    tmp.mkdir()
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(tmp)
    os.environ["TMPDIR"] = str(tmp)
    ready, stop, url = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=_serve, args=(base, ready, stop, url), daemon=True)
    thread.start()
    try:
        assert ready.wait(60), "the API did not start"
        watch.events()  # the layout's own writes
        yield Site(url[0], root, outside, watch, tmp)
    finally:
        stop.set()
        thread.join(30)
        watch.close()
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]


def _segments(outside: str) -> st.SearchStrategy[str]:
    # The outside as the process sees it: absolute, and relative to the working directory.
    relative = os.path.relpath(outside, Path.cwd())
    whole = [f"{base}/colon://chartx" for base in (outside, relative)] + [
        f"{base}/chart" for base in (outside, relative)
    ]
    return st.sampled_from(whole) | st.sampled_from(
        [
            "..", ".", "", "vault-seed", "escape", "escape-file", "outside", "chart",
            "secret.txt", "templates", "%2e%2e", "..%2f", "~", "x://..", "colon://chartx",
            "colon:", "chartx", ":", "@", "\\..\\", "Chart.yaml", outside, outside + "/chart",
            "\u2025", "é",
        ]
    )  # fmt: skip


def _charts(outside: str) -> st.SearchStrategy[str]:
    prefix = st.sampled_from(
        [
            "", "/", "./", "../", "oci://", "oci://localhost:1/", "OCI://", "upload:",
            "upload:" + "0" * 64, "file://", "file:///", "http://127.0.0.1:1/", "https://",
            "x://", "~/", "//", "\\\\", "charts/",
        ]
    )  # fmt: skip
    path = st.lists(_segments(outside), min_size=1, max_size=4).map("/".join)
    composed = st.builds(lambda p, a: p + a or "x", prefix, path)
    noisy = st.builds(lambda c, n: (c + n)[:4096] or "x", composed, st.text(min_size=1, max_size=8))
    return st.one_of(_segments(outside).filter(bool), composed, noisy)


def _values() -> st.SearchStrategy[str]:
    hostile = st.sampled_from(
        [
            "a: " + "[" * 900 + "]" * 900,
            "a: " + "{a: " * 600 + "1" + "}" * 600,
            "a: " + "9" * 100_000,
            "a: 1e999\nb: -.inf\nc: .nan",
            "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b, *b]",
            "a: *undefined",
            "<<: 1",
            "? [a, b]\n: c",
            "a: !!binary not-base64",
            "a: !!python/object:os.system x",
            "a: 2001-02-30T99:99:99",
            "a:\n\tb: 1",
            "---\n- 1\n---\na: 1",
            "\ufeffa: 1",
            "a: \ud800",
            "a: \x00\x01\x7f",
            "%YAML 9.9\n---\na: 1",
            "a: |\n  x\n b: 1",
            "",
            "a: 1",
        ]
    )
    # Valid values half the time, so the chart reference is what gets tested.
    return st.one_of(
        st.sampled_from(["", "a: 1", "replicas: 2\nimage: {tag: x}"]),
        hostile,
        st.text(max_size=200),
        st.builds(lambda h, t: h + "\n" + t, hostile, st.text(max_size=50)),
    )


def _archive(members: list[tuple[str, str, str]]) -> bytes:
    """A .tgz with (name, kind, payload) members: kind file, symlink, hardlink or dir."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            if kind == "file":
                body = payload.encode()
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}.get(
                kind, tarfile.DIRTYPE
            )
            info.linkname = payload
            tar.addfile(info)
    return data.getvalue()


def _archives(outside: str) -> st.SearchStrategy[bytes]:
    chart_yaml = "apiVersion: v2\nname: x\nversion: 0.1.0\n"
    names = st.sampled_from(
        [
            "x/Chart.yaml", "x/values.yaml", "x/templates/a.yaml", "../x/Chart.yaml",
            "/abs/Chart.yaml", "x/../../evil", "x/templates/../../../evil", "Chart.yaml",
            "x/charts/sub/Chart.yaml", "x", "x/templates",
        ]
    )  # fmt: skip
    kinds = st.sampled_from(["file", "symlink", "hardlink", "dir"])
    payloads = st.sampled_from(
        [
            chart_yaml, "kind: ConfigMap", "{{ .Files.Get \"secret.txt\" }}", outside,
            outside + "/secret.txt", "../../outside/secret.txt", "/etc/passwd", "..", "",
            "{{ include \"nope\" . }}", "a: " + "[" * 300 + "]" * 300,
        ]
    )  # fmt: skip
    members = st.lists(st.tuples(names, kinds, payloads), max_size=6)
    return st.one_of(members.map(_archive), st.binary(max_size=2048))


_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)


def _finish(client: httpx.Client, answer: httpx.Response) -> None:
    """Wait for a started operation to end (it may still read the chart)."""
    if answer.status_code != 202:
        return
    location = answer.headers["location"]
    for _ in range(200):
        if client.get(location, headers=AUTH).json()["state"] != "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"operation {location} did not finish")


def _assert_fine(site: Site, what: object, answer: httpx.Response) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:500])
    touched = site.watch.events()
    assert touched == [], (what, touched)


def _post(client: httpx.Client, path: str, body: dict[str, object]) -> httpx.Response:
    import json

    return client.post(
        path,
        content=json.dumps(body),  # escapes lone surrogates as JSON does
        headers={**AUTH, "Content-Type": "application/json"},
    )


@pytest.fixture(scope="module")
def client(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as c:
        yield c


def test_the_outside_is_watched(site: Site, client: httpx.Client) -> None:
    # The watch sees a read: a test that can fail.
    assert (site.outside / "secret.txt").read_text()
    assert site.watch.events()
    ok = _post(client, "/api/check", {"chart": "vault-seed", "release": "common"})
    assert ok.status_code == 200, ok.text
    assert site.watch.events() == []


@given(data=st.data())
@settings(_SETTINGS, max_examples=120)
def test_check_never_5xx_never_outside(
    site: Site, client: httpx.Client, data: st.DataObject
) -> None:
    outside = str(site.outside)
    body = {
        "chart": data.draw(_charts(outside), "chart"),
        "repo": data.draw(
            st.one_of(st.none(), st.sampled_from(["", "file:///", outside, "x"])), "repo"
        ),
        "values": data.draw(_values(), "values"),
        "release": data.draw(st.sampled_from(["r", "R!", "a" * 53, "-x"]), "release"),
        "namespace": data.draw(st.sampled_from(["default", "NS", "a b", "kube-system"]), "ns"),
    }
    _assert_fine(site, body, _post(client, "/api/check", body))


@given(data=st.data())
@settings(_SETTINGS, max_examples=40)
def test_deploy_never_5xx_never_outside(
    site: Site, client: httpx.Client, data: st.DataObject
) -> None:
    outside = str(site.outside)
    body = {
        "chart": data.draw(_charts(outside), "chart"),
        "values": data.draw(_values(), "values"),
        "release": "fuzz",
        "namespace": "default",
        "timeout": data.draw(st.sampled_from([1, 5]), "timeout"),
    }
    answer = _post(client, "/api/deploy", body)
    _finish(client, answer)
    _assert_fine(site, body, answer)


@given(archive=st.data())
@settings(_SETTINGS, max_examples=40)
def test_uploads_never_5xx_never_outside(
    site: Site, client: httpx.Client, archive: st.DataObject
) -> None:
    data = archive.draw(_archives(str(site.outside)), "archive")
    uploaded = client.put("/api/charts", content=data, headers=AUTH)
    _assert_fine(site, data[:64], uploaded)
    if uploaded.status_code == 200:
        chart = uploaded.json()["chart"]
        checked = _post(client, "/api/check", {"chart": chart})
        _assert_fine(site, chart, checked)


def test_nothing_is_left_in_the_temporary_directory(site: Site, client: httpx.Client) -> None:
    archive = _archive([("x/Chart.yaml", "file", "apiVersion: v2\nname: x\nversion: 0.1.0\n")])
    uploaded = client.put("/api/charts", content=archive, headers=AUTH)
    assert uploaded.status_code == 200, uploaded.text
    for chart in ("vault-seed", uploaded.json()["chart"]):
        checked = _post(client, "/api/check", {"chart": chart, "values": "replicas: 2"})
        assert checked.status_code == 200, checked.text
    deploy = _post(client, "/api/deploy", {"chart": "vault-seed", "values": "a: 1", "timeout": 5})
    assert deploy.status_code == 202, deploy.text
    _finish(client, deploy)
    assert sorted(p.name for p in site.tmp.iterdir()) == []
