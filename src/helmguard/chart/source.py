"""Where a chart comes from: a local directory, a .tgz, an HTTP chart repository, or oci://.

Every source ends as a chart directory on local disk. Archives, whoever made them, are
unpacked by `extract_archive`, which refuses anything that could write outside the
destination or exhaust the disk.

One file past 400 lines: every source shares the download, the credentials' scope and
the archive checks; apart, each would need the others' rules for what may be trusted.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import ssl
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlparse

from helmguard import goyaml

# Helm's own limits (pkg/chart/loader: MaxDecompressedChartSize, MaxDecompressedFileSize).
MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ARCHIVE_FILES = 10_000
# A repository index or chart download bigger than this is not a chart repository.
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
HTTP_TIMEOUT = 30.0


class ChartError(Exception):
    """A problem the user can fix: bad chart reference, hostile archive, template error, ...

    The message is complete and meant to be printed as is, without a traceback.
    """


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what an archive may unpack to."""

    max_total_bytes: int = MAX_ARCHIVE_BYTES
    max_file_bytes: int = MAX_FILE_BYTES
    max_files: int = MAX_ARCHIVE_FILES


@dataclass(frozen=True)
class RepoAuth:
    """How to reach a private chart repository or registry: basic auth or a bearer token,
    a CA bundle for its TLS certificate, or (loudly) no TLS verification at all."""

    username: str = ""
    password: str = ""
    token: str = ""
    ca_file: str = ""
    insecure_skip_tls_verify: bool = False
    # helm's --pass-credentials: the credentials go to a chart URL on another host too.
    pass_credentials: bool = False
    plain_http: bool = False  # helm's --plain-http: the oci:// registry is spoken to over HTTP
    cert_file: str = ""  # helm's --cert-file and --key-file: a client certificate (--repo)
    key_file: str = ""

    def for_url(self, repo: str, url: str) -> RepoAuth:
        """The credentials sent to `url` of repository `repo`: none to another scheme, host
        or port unless `pass_credentials`, as helm's HTTP getter decides."""
        here, there = urlparse(repo), urlparse(url)
        if self.pass_credentials or (here.scheme, here.netloc) == (there.scheme, there.netloc):
            return self
        return replace(self, username="", password="", token="")


NO_AUTH = RepoAuth()
# helm's --devel: "equivalent to version '>0.0.0-0'", any version, pre-releases included.
DEVEL_VERSION = ">0.0.0-0"


def resolve_chart(
    ref: str,
    *,
    version: str | None = None,
    repo: str | None = None,
    workdir: Path,
    auth: RepoAuth = NO_AUTH,
    verify_keyring: str = "",
) -> Path:
    """Turn a chart reference into a chart directory on local disk.

    `ref` is a directory, a `.tgz` file, `oci://host/path/name`, or (with `repo`) a chart
    name in the HTTP chart repository at `repo`. Archives are unpacked safely under
    `workdir`, which the caller owns. Raises ChartError for anything the user can fix.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if repo or ref.startswith("oci://"):
        if verify_keyring:
            raise ChartError(
                f"{ref}: --verify checks a local chart archive here (its .prov beside it), not "
                "one from --repo or oci://; pull it with its .prov and give the .tgz"
            )
        archive = fetch_archive(ref, version, workdir, repo=repo, auth=auth)
        return extract_archive(archive, workdir / "chart")
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise ChartError(f"{ref}: not a chart (a chart directory holds a Chart.yaml)")
        if verify_keyring:
            raise ChartError(f"{ref}: --verify: cannot verify a directory (as helm)")
        return path
    if path.is_file():
        if verify_keyring:
            verify_archive(path, verify_keyring)
        return extract_archive(path, workdir / "chart")
    if re.match(r"^[a-z][a-z0-9+.-]*://", ref):
        raise ChartError(f"{ref}: unsupported chart URL; use a path, oci://, or --repo URL NAME")
    if "/" in ref and not ref.startswith((".", "/")) and not path.parent.exists():
        raise ChartError(
            f"{ref}: no such chart directory or archive; helmguard does not read `helm repo add` "
            "repositories, pass the repository URL with --repo URL and the chart name"
        )
    raise ChartError(f"{ref}: no such chart directory or archive")


def verify_archive(archive: Path, keyring: str) -> None:
    """helm's --verify: `archive`'s provenance (<archive>.prov) signed by a key in the public
    `keyring`, its hash the archive's; ChartError naming what fails."""
    import helm_python

    try:
        helm_python.verify(archive, keyring)
    except helm_python.HelmError as exc:
        raise ChartError(f"{archive}: --verify (keyring {keyring}): {exc}") from None


def extract_archive(
    archive: Path, destination: Path, limits: ArchiveLimits = ArchiveLimits()
) -> Path:
    """Unpack a chart archive under `destination` and return the chart's directory.

    Refuses, with a ChartError naming the member: absolute paths, `..` components, links
    pointing outside the archive, device files and FIFOs, more than `limits.max_files`
    entries, a file or a total beyond the size limits, and corrupt data.
    """
    try:
        tar = tarfile.open(archive, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ChartError(f"{archive}: not a readable chart archive (.tgz): {exc}") from None
    with tar:
        try:
            members = _checked_members(tar, archive, limits)
            return _write_members(tar, members, archive, destination, limits)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise ChartError(f"{archive}: corrupt chart archive: {exc}") from None


def _checked_members(
    tar: tarfile.TarFile, archive: Path, limits: ArchiveLimits
) -> list[tuple[tarfile.TarInfo, str]]:
    """Every member with its normalized path, after the safety checks on names and types."""
    checked: list[tuple[tarfile.TarInfo, str]] = []
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > limits.max_files:
            raise ChartError(
                f"{archive}: more than {limits.max_files} entries; refusing to unpack "
                "(a chart archive this large is almost certainly not a chart)"
            )
        name = member.name
        if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name) or "\\" in name:
            raise ChartError(f"{archive}: member {name!r} has an absolute path; refusing")
        if ".." in PurePosixPath(name).parts:
            raise ChartError(f"{archive}: member {name!r} contains '..'; refusing")
        if member.isdev() or member.isfifo():
            raise ChartError(f"{archive}: member {name!r} is a device file or FIFO; refusing")
        if member.issym() or member.islnk():
            _check_link(member, archive)
        elif not (member.isfile() or member.isdir()):
            raise ChartError(f"{archive}: member {name!r} has unsupported type; refusing")
        if member.isfile():
            if member.size > limits.max_file_bytes:
                raise ChartError(
                    f"{archive}: member {name!r} is {member.size} bytes, over the "
                    f"{limits.max_file_bytes}-byte limit for one file; refusing"
                )
            total += member.size
            if total > limits.max_total_bytes:
                raise ChartError(
                    f"{archive}: unpacks to more than {limits.max_total_bytes} bytes "
                    f"(at member {name!r}); refusing"
                )
        normalized = posixpath.normpath(name)
        checked.append((member, normalized))
    return checked


def _check_link(member: tarfile.TarInfo, archive: Path) -> None:
    """A link may only point at another place inside the archive."""
    target = member.linkname
    if member.issym():
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), target))
    else:
        resolved = posixpath.normpath(target)
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise ChartError(
            f"{archive}: member {member.name!r} links to {target!r}, outside the archive; refusing"
        )


def _write_members(
    tar: tarfile.TarFile,
    members: list[tuple[tarfile.TarInfo, str]],
    archive: Path,
    destination: Path,
    limits: ArchiveLimits,
) -> Path:
    """Write regular files and directories; links inside the archive become copies."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    contents: dict[str, bytes] = {}
    links: list[tuple[str, str]] = []
    for member, name in members:
        if name == ".":
            continue
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise ChartError(f"{archive}: member {member.name!r} escapes the archive; refusing")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.issym() or member.islnk():
            if member.issym():
                link_target = posixpath.join(posixpath.dirname(member.name), member.linkname)
            else:
                link_target = member.linkname
            links.append((name, posixpath.normpath(link_target)))
        else:
            stream = tar.extractfile(member)
            data = stream.read(limits.max_file_bytes + 1) if stream else b""
            contents[name] = data
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
    for name, link_target in links:
        if link_target not in contents:
            continue  # a link to a directory or a missing file: Helm's loader skips these too
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents[link_target])
    return _chart_root(root, archive)


def _chart_root(root: Path, archive: Path) -> Path:
    """The one top-level directory holding Chart.yaml, as `helm package` lays archives out."""
    dirs = [p for p in root.iterdir() if p.is_dir() and (p / "Chart.yaml").is_file()]
    if len(dirs) == 1:
        return dirs[0]
    if (root / "Chart.yaml").is_file():
        return root
    raise ChartError(f"{archive}: not a chart archive (no <chart>/Chart.yaml inside)")


# ---- HTTP chart repositories ----------------------------------------------------------


def _http_get(url: str, what: str, auth: RepoAuth = NO_AUTH) -> bytes:
    """GET a URL with a size limit; every failure is a ChartError saying what was fetched."""
    import httpx2  # only repository users pay for importing it

    headers = {"Authorization": f"Bearer {auth.token}"} if auth.token else {}
    basic = (auth.username, auth.password) if auth.username else None
    verify: ssl.SSLContext | bool = True
    if auth.insecure_skip_tls_verify and not auth.cert_file:
        verify = False
    elif auth.ca_file or auth.cert_file:
        try:
            verify = ssl.create_default_context(cafile=auth.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ChartError(f"{what}: CA file {auth.ca_file} cannot be used: {exc}") from None
        if auth.insecure_skip_tls_verify:
            verify.check_hostname = False
            verify.verify_mode = ssl.CERT_NONE
        if auth.cert_file:
            try:
                verify.load_cert_chain(auth.cert_file, auth.key_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise ChartError(
                    f"{what}: client certificate {auth.cert_file} (key "
                    f"{auth.key_file or 'in the same file'}) cannot be used: {exc}"
                ) from None
    try:
        with (
            httpx2.Client(
                timeout=HTTP_TIMEOUT, follow_redirects=True, verify=verify, auth=basic
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code in (401, 403):
                raise ChartError(
                    f"{what}: GET {url} returned HTTP {response.status_code}: the repository "
                    "refused the credentials (or wants some); check --username/--password-stdin"
                )
            if response.status_code != 200:
                raise ChartError(f"{what}: GET {url} returned HTTP {response.status_code}")
            buffer = io.BytesIO()
            for chunk in response.iter_bytes():
                buffer.write(chunk)
                if buffer.tell() > MAX_DOWNLOAD_BYTES:
                    raise ChartError(f"{what}: {url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
            return buffer.getvalue()
    except httpx2.HTTPError as exc:
        raise ChartError(f"{what}: cannot fetch {url}: {exc}") from None


def _version_key(version: str) -> tuple[tuple[int, ...], int, tuple[Any, ...]]:
    """Semver ordering: numbers, then releases above pre-releases, then pre-release parts."""
    core, _, pre = version.lstrip("v").split("+", 1)[0].partition("-")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in core.split("."))
    pre_parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".") if p)
    return numbers, 0 if pre else 1, pre_parts


def fetch_index(repo: str, auth: RepoAuth = NO_AUTH) -> dict[str, Any]:
    """The repository's index.yaml, read as Helm reads it; ChartError when it is not one."""
    where = f"chart repository {repo}"
    try:
        index = goyaml.load(_http_get(urljoin(repo.rstrip("/") + "/", "index.yaml"), where, auth))
    except goyaml.YAMLError as exc:
        raise ChartError(f"{where}: index.yaml is not valid YAML: {exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
        raise ChartError(f"{where}: index.yaml has no entries; is this a chart repository?")
    return index


def fetch_archive(
    ref: str,
    version: str | None,
    workdir: Path,
    *,
    repo: str | None = None,
    auth: RepoAuth = NO_AUTH,
) -> Path:
    """Download the archive of chart `ref` (a chart name in `repo`, or `oci://...`) into
    `workdir`, unpacked by no one yet; ChartError for anything the user can fix."""
    workdir.mkdir(parents=True, exist_ok=True)
    if repo:
        return _download_from_repository(repo, ref, version, workdir, auth)
    return _pull_oci(ref, version, workdir, auth)


def _download_from_repository(
    repo: str, name: str, version: str | None, workdir: Path, auth: RepoAuth
) -> Path:
    """Find `name` (at `version`, else the newest stable version) in the repository index
    and download its archive, checking the digest the index records."""
    base = repo.rstrip("/") + "/"
    where = f"chart repository {repo}"
    index = fetch_index(repo, auth)
    entries = index["entries"].get(name) or []
    if not entries:
        raise ChartError(f"{where}: no chart named {name!r}")
    chosen = _choose_version(entries, version)
    if chosen is None:
        have = ", ".join(sorted({str(e.get("version")) for e in entries}, key=_version_key))
        wanted = version or "a stable version"
        raise ChartError(f"{where}: chart {name!r} has no {wanted} (versions: {have})")
    urls = chosen.get("urls") or []
    if not urls:
        raise ChartError(f"{where}: chart {name} {chosen.get('version')} lists no download URL")
    url = urljoin(base, str(urls[0]))
    if urlparse(url).scheme not in ("http", "https"):
        raise ChartError(f"{where}: chart download URL {url} is not http(s)")
    data = _http_get(url, f"chart {name} {chosen.get('version')}", auth.for_url(repo, url))
    expected = str(chosen.get("digest") or "")
    if expected:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected.removeprefix("sha256:"):
            raise ChartError(
                f"{where}: {url} has digest sha256:{actual}, but the index says {expected}; "
                "the archive or the index was tampered with or is stale"
            )
    archive = workdir / f"{name}-{chosen.get('version')}.tgz"
    archive.write_bytes(data)
    return archive


def _choose_version(entries: list[dict[str, Any]], version: str | None) -> dict[str, Any] | None:
    """The entry with exactly `version`, or the highest version without a pre-release (with
    a pre-release too for DEVEL_VERSION)."""
    if version == DEVEL_VERSION:
        return max(entries, key=lambda e: _version_key(str(e.get("version", ""))), default=None)
    if version:
        wanted = version.lstrip("v")
        for entry in entries:
            if str(entry.get("version", "")).lstrip("v") == wanted:
                return entry
        return None
    stable = [e for e in entries if "-" not in str(e.get("version", "")).split("+", 1)[0]]
    if not stable:
        return None
    return max(stable, key=lambda e: _version_key(str(e.get("version", ""))))


# ---- OCI registries ---------------------------------------------------------------------


def _pull_oci(ref: str, version: str | None, workdir: Path, auth: RepoAuth) -> Path:
    """Pull an oci:// chart through the Helm SDK's registry client into `workdir`.

    A registry on the loopback interface is retried over plain HTTP (what `--plain-http`
    does in Helm): local test registries rarely have TLS, and loopback traffic cannot be
    intercepted on the network.
    """
    import helm_python

    if auth.cert_file or auth.key_file:
        raise ChartError(f"{ref}: --cert-file/--key-file work with --repo here, not oci://")

    download = workdir / "download"
    download.mkdir(parents=True, exist_ok=True)
    host = urlparse(ref).hostname or ""
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    login: dict[str, Any] = {
        "username": auth.username or None,
        "password": (auth.password or auth.token) or None,
        "insecure_skip_tls_verify": auth.insecure_skip_tls_verify,
    }
    try:
        helm_python.pull(
            ref, destination=download, version=version, plain_http=auth.plain_http, **login
        )
    except helm_python.HelmError as exc:
        if not loopback or auth.plain_http:
            raise ChartError(f"{ref}: cannot pull chart: {exc}") from None
        try:
            helm_python.pull(ref, destination=download, version=version, plain_http=True, **login)
        except helm_python.HelmError as plain_exc:
            raise ChartError(f"{ref}: cannot pull chart: {plain_exc}") from None
    archives = sorted(download.glob("*.tgz"))
    if len(archives) != 1:
        raise ChartError(f"{ref}: the registry did not return one chart archive")
    return archives[0]
