"""Chart sources: directories, archives (hostile ones too), HTTP chart repositories, oci://."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.source import ArchiveLimits, ChartError, extract_archive, resolve_chart

from .conftest import CHARTS
from .ociregistry import Registry, serve


def package(chart_dir: Path, out: Path, top: str | None = None, version: str | None = None) -> Path:
    """A chart archive laid out like `helm package` makes it: <name>/... inside a .tgz."""
    top = top or chart_dir.name
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(chart_dir.rglob("*")):
            arcname = f"{top}/{path.relative_to(chart_dir).as_posix()}"
            if version and path.name == "Chart.yaml" and path.parent == chart_dir:
                meta = yaml.safe_load(path.read_text())
                data = yaml.safe_dump({**meta, "version": version}).encode()
                info = tarfile.TarInfo(arcname)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.add(path, arcname=arcname, recursive=False)
    return out


def hostile(out: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    """An archive with a valid chart plus the given members."""
    with tarfile.open(out, "w:gz") as tar:
        chart = b"apiVersion: v2\nname: evil\nversion: 0.1.0\n"
        info = tarfile.TarInfo("evil/Chart.yaml")
        info.size = len(chart)
        tar.addfile(info, io.BytesIO(chart))
        for member, data in members:
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_directory_is_used_in_place(tmp_path: Path) -> None:
    assert resolve_chart(str(CHARTS / "webapp"), workdir=tmp_path) == CHARTS / "webapp"


def test_directory_without_chart_yaml(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="not a chart"):
        resolve_chart(str(CHARTS / "webapp" / "templates"), workdir=tmp_path)


def test_missing_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="no such chart directory or archive"):
        resolve_chart(str(tmp_path / "absent"), workdir=tmp_path / "w")
    with pytest.raises(ChartError, match="--repo"):
        resolve_chart("bitnami/nginx", workdir=tmp_path / "w")


def test_archive_renders_like_the_directory(tmp_path: Path) -> None:
    archive = package(CHARTS / "webapp", tmp_path / "webapp-1.2.3.tgz")
    extracted = resolve_chart(str(archive), workdir=tmp_path / "work")
    assert (extracted / "Chart.yaml").is_file()
    assert (extracted / "templates" / "_helpers.tpl").is_file()
    from_dir = render_chart(RenderRequest(chart=str(CHARTS / "webapp")))
    from_tgz = render_chart(RenderRequest(chart=str(archive)))
    assert from_tgz.manifests == from_dir.manifests
    assert [c.ref for c in from_tgz.crds] == [c.ref for c in from_dir.crds]


def test_link_inside_the_archive_is_materialized(tmp_path: Path) -> None:
    values = b"a: 1\n"
    info = member("evil/values.yaml")
    archive = hostile(
        tmp_path / "ok.tgz",
        (info, values),
        (member("evil/defaults.yaml", tarfile.SYMTYPE, "values.yaml"), None),
    )
    root = extract_archive(archive, tmp_path / "out")
    assert (root / "defaults.yaml").read_bytes() == values
    assert not (root / "defaults.yaml").is_symlink()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (member("/etc/evil"), "absolute path"),
        (member("evil/../../escape.txt"), r"contains '\.\.'"),
        (member("evil/templates/link", tarfile.SYMTYPE, "../../../etc/passwd"), "outside"),
        (member("evil/templates/abs", tarfile.SYMTYPE, "/etc/passwd"), "outside"),
        (member("evil/templates/hard", tarfile.LNKTYPE, "../outside"), "outside"),
        (member("evil/dev/null", tarfile.CHRTYPE), "device file"),
        (member("evil/dev/sda", tarfile.BLKTYPE), "device file"),
        (member("evil/fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=["absolute", "dotdot", "symlink-out", "symlink-abs", "hardlink-out", "chr", "blk", "fifo"],
)
def test_hostile_archive_members_are_refused(
    tmp_path: Path, bad: tarfile.TarInfo, message: str
) -> None:
    data = b"x" if bad.isfile() else None
    archive = hostile(tmp_path / "evil.tgz", (bad, data))
    with pytest.raises(ChartError, match=message) as exc:
        resolve_chart(str(archive), workdir=tmp_path / "work")
    assert repr(bad.name) in str(exc.value)
    assert not (tmp_path / "escape.txt").exists()


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    big = b"\0" * (5 * 1024 * 1024 + 1)  # Helm's per-file limit plus one byte
    archive = hostile(tmp_path / "big.tgz", (member("evil/templates/big.yaml"), big))
    assert archive.stat().st_size < 100_000  # a compression bomb: tiny archive, huge content
    with pytest.raises(ChartError, match=r"'evil/templates/big\.yaml' is 5242881 bytes"):
        resolve_chart(str(archive), workdir=tmp_path / "work")


def test_total_over_the_size_limit(tmp_path: Path) -> None:
    files = [(member(f"evil/files/{i}.txt"), b"\0" * 600) for i in range(4)]
    archive = hostile(tmp_path / "total.tgz", *files)
    limits = ArchiveLimits(max_total_bytes=2000)
    with pytest.raises(ChartError, match=r"more than 2000 bytes \(at member 'evil/files/3\.txt'\)"):
        extract_archive(archive, tmp_path / "out", limits)


def test_too_many_files(tmp_path: Path) -> None:
    files = [(member(f"evil/files/{i}.txt"), b"") for i in range(10_001)]
    archive = hostile(tmp_path / "many.tgz", *files)
    with pytest.raises(ChartError, match="more than 10000 entries"):
        resolve_chart(str(archive), workdir=tmp_path / "work")


def test_corrupt_and_non_chart_archives(tmp_path: Path) -> None:
    good = package(CHARTS / "webapp", tmp_path / "good.tgz").read_bytes()
    truncated = tmp_path / "truncated.tgz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ChartError, match=r"truncated\.tgz"):
        resolve_chart(str(truncated), workdir=tmp_path / "w1")
    garbage = tmp_path / "garbage.tgz"
    garbage.write_bytes(b"this is not an archive")
    with pytest.raises(ChartError, match="not a readable chart archive"):
        resolve_chart(str(garbage), workdir=tmp_path / "w2")
    empty = tmp_path / "empty.tgz"
    empty.write_bytes(gzip.compress(tarfile.TarInfo("x").tobuf() + b"\0" * 1024))
    with pytest.raises(ChartError, match="not a chart archive"):
        resolve_chart(str(empty), workdir=tmp_path / "w3")


# ---- HTTP chart repository ------------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real chart repository: index.yaml and archives served over HTTP on 127.0.0.1."""
    root = tmp_path / "repo"
    (root / "charts").mkdir(parents=True)
    entries = []
    for version in ("1.0.0", "1.2.3", "2.0.0-rc.1"):
        archive = package(
            CHARTS / "webapp", root / "charts" / f"webapp-{version}.tgz", version=version
        )
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        entries.append(
            {
                "apiVersion": "v2",
                "name": "webapp",
                "version": version,
                "digest": digest,
                "urls": [f"charts/webapp-{version}.tgz"],
            }
        )
    index = {"apiVersion": "v1", "entries": {"webapp": entries}}
    (root / "index.yaml").write_text(yaml.safe_dump(index))
    handler = partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_repository_chart_by_name_and_version(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = repository
    rendered = render_chart(RenderRequest(chart="webapp", repo=url, version="1.0.0"))
    assert rendered.chart_name == "webapp"
    assert rendered.chart_version == "1.0.0"
    assert any(o.kind == "Deployment" for o in rendered.objects)


def test_repository_newest_stable_version_by_default(
    repository: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = repository
    chart = resolve_chart("webapp", repo=url + "/", workdir=tmp_path / "w")
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["version"] == "1.2.3"


def test_repository_errors(repository: tuple[str, Path], tmp_path: Path) -> None:
    url, root = repository
    with pytest.raises(ChartError, match=r"has no 9\.9\.9 \(versions: 1\.0\.0, 1\.2\.3"):
        resolve_chart("webapp", repo=url, version="9.9.9", workdir=tmp_path / "a")
    with pytest.raises(ChartError, match="no chart named 'nginx'"):
        resolve_chart("nginx", repo=url, workdir=tmp_path / "b")
    with pytest.raises(ChartError, match="HTTP 404"):
        resolve_chart("webapp", repo=url + "/missing", workdir=tmp_path / "c")
    (root / "charts" / "webapp-1.0.0.tgz").write_bytes(b"tampered")
    with pytest.raises(ChartError, match="digest"):
        resolve_chart("webapp", repo=url, version="1.0.0", workdir=tmp_path / "d")


def test_unreachable_repository(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match=r"cannot fetch http://127\.0\.0\.1:9/index\.yaml"):
        resolve_chart("webapp", repo="http://127.0.0.1:9", workdir=tmp_path)


def test_oci_chart_pulled_with_helms_registry_client(tmp_path: Path) -> None:
    registry = Registry()
    for version in ("1.0.0", "1.2.3"):
        archive = package(CHARTS / "webapp", tmp_path / f"webapp-{version}.tgz", version=version)
        chart_yaml = tmp_path / f"Chart-{version}.yaml"
        meta = yaml.safe_load((CHARTS / "webapp" / "Chart.yaml").read_text())
        chart_yaml.write_text(yaml.safe_dump({**meta, "version": version}))
        registry.add_chart("charts/webapp", archive, chart_yaml)
    with serve(registry) as host:
        rendered = render_chart(RenderRequest(chart=f"oci://{host}/charts/webapp", version="1.0.0"))
        assert (rendered.chart_name, rendered.chart_version) == ("webapp", "1.0.0")
        assert any(o.kind == "Deployment" for o in rendered.objects)
        newest = resolve_chart(f"oci://{host}/charts/webapp", workdir=tmp_path / "newest")
        assert yaml.safe_load((newest / "Chart.yaml").read_text())["version"] == "1.2.3"
        with pytest.raises(ChartError, match=r"oci://.*/charts/nginx: cannot pull chart"):
            resolve_chart(f"oci://{host}/charts/nginx", version="1.0.0", workdir=tmp_path / "x")


def test_unreachable_oci_registry(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match=r"oci://127\.0\.0\.1:9/charts/webapp: cannot pull"):
        resolve_chart("oci://127.0.0.1:9/charts/webapp", version="1.0.0", workdir=tmp_path)
