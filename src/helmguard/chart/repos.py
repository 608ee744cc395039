"""The chart catalogue: registered Helm repositories and OCI registries, searched and read.

One file past 400 lines: the repositories' registry, their cached indexes and what an
archive says about itself are one catalogue.

The CLI (`helmguard repo ...`) and the API (`/api/repos`) both call these functions.
Charts are fetched by `chart.source` (one fetcher for every path); this module only adds
the registry of repositories, their cached indexes, and what a chart archive says about
itself (README, default values, values schema).

Credentials: a password or token is sealed with Fernet (AES-128-CBC + HMAC-SHA256) before
it reaches the store, with a key kept outside the database: $HELMGUARD_REPO_KEY, else the
`repo-key` file of helmguard's config directory (created mode 0600 on first use; a key
file others can read is refused). A copy of the database alone does not reveal them, and
nothing here returns them: `public_view` says only which kind of authentication is set.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import platformdirs

from helmguard.chart.source import ChartError as ChartError
from helmguard.chart.source import (
    RepoAuth,
    _version_key,
    extract_archive,
    fetch_archive,
    fetch_index,
)

if TYPE_CHECKING:
    from helmguard.store import RepositoryRecord, Store

KEY_ENV_VAR = "HELMGUARD_REPO_KEY"
# A repository name as `helm repo add` would take it, and safe in a URL path.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_CHART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_VERSION = re.compile(r"^v?[0-9A-Za-z.+-]{1,128}$")
# What a chart archive may tell about itself; larger files are cut, never refused.
MAX_README_BYTES = 256 << 10
MAX_VALUES_BYTES = 1 << 20


class RepositoryError(ChartError):
    """A repository request the user must fix (bad name, URL, unknown repository, ...)."""


class RepositoryNotFound(RepositoryError):
    """No such repository, or no such chart in its index."""


class RepositoryExists(RepositoryError):
    """A repository of that name is already registered."""


@dataclass(frozen=True)
class ChartVersion:
    """One version of a chart as the repository's index lists it."""

    name: str
    version: str
    app_version: str
    created: str
    description: str
    keywords: tuple[str, ...]
    deprecated: bool


@dataclass(frozen=True)
class ChartSummary:
    """A chart of a repository: its newest version and how many there are."""

    repository: str
    name: str
    latest: ChartVersion
    versions: int


@dataclass(frozen=True)
class ChartInfo:
    """What a chart says about itself."""

    name: str
    version: str
    app_version: str
    description: str
    readme: str
    values: str
    schema: str


# ---- credentials ------------------------------------------------------------------------


def key_path() -> Path:
    """`repo-key` in the user's config directory (e.g. ~/.config/helmguard/repo-key)."""
    return Path(platformdirs.user_config_dir("helmguard")) / "repo-key"


def _fernet() -> Any:
    from cryptography.fernet import Fernet

    from_env = os.environ.get(KEY_ENV_VAR, "").strip()
    if from_env:
        try:
            return Fernet(from_env.encode())
        except ValueError:
            raise RepositoryError(
                f"${KEY_ENV_VAR} is not a key: it must be 32 url-safe base64-encoded bytes "
                "(make one with `python3 -c 'import base64, os; "
                "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`)"
            ) from None
    path = key_path()
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise RepositoryError(
                f"{path} is readable by other users (mode {oct(path.stat().st_mode & 0o777)}); "
                f"run `chmod 600 {path}`"
            )
        return Fernet(path.read_bytes().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return Fernet(key)


def _seal(password: str, token: str) -> str | None:
    if not password and not token:
        return None
    kind, secret = ("token", token) if token else ("password", password)
    sealed: bytes = _fernet().encrypt(f"{kind}:{secret}".encode())
    return sealed.decode()


def auth_for(repository: RepositoryRecord) -> RepoAuth:
    """How to reach `repository`, its secret unsealed (kept in memory only)."""
    password = token = ""
    if repository.secret:
        from cryptography.fernet import InvalidToken

        try:
            opened = _fernet().decrypt(repository.secret.encode()).decode()
        except InvalidToken:
            raise RepositoryError(
                f"repository {repository.name}: its stored credentials were sealed with another "
                f"key (${KEY_ENV_VAR} or {key_path()} changed); run `helmguard repo remove "
                f"{repository.name}` and add it again"
            ) from None
        kind, _, secret = opened.partition(":")
        password, token = (secret, "") if kind == "password" else ("", secret)
    return RepoAuth(
        username=repository.username,
        password=password,
        token=token,
        ca_file=repository.ca_file,
        insecure_skip_tls_verify=repository.insecure,
    )


# ---- registering ------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise RepositoryError(
            f"{name!r}: a repository name is 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _check_url(url: str) -> str:
    """The URL's kind: "helm" for http(s) repositories, "oci" for registries."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise RepositoryError(f"{url!r}: not a URL: {exc}") from None
    if parts.scheme not in ("http", "https", "oci") or not host:
        raise RepositoryError(
            f"{url!r}: a repository is an http:// or https:// URL (a Helm repository with an "
            "index.yaml) or oci://host/path (an OCI registry)"
        )
    if parts.username or parts.password:
        raise RepositoryError(
            f"{parts.scheme}://{host}/…: credentials in the URL would be stored and shown in "
            "clear; give them with --username and --password-stdin instead"
        )
    if parts.query or parts.fragment:
        raise RepositoryError(f"{url!r}: a repository URL has no query or fragment")
    return "oci" if parts.scheme == "oci" else "helm"


def new_repository(
    name: str,
    url: str,
    *,
    username: str = "",
    password: str = "",
    token: str = "",
    ca_file: str = "",
    insecure: bool = False,
) -> RepositoryRecord:
    """A checked repository record with its secret sealed; RepositoryError names the problem."""
    from helmguard.store import RepositoryRecord

    check_name(name)
    kind = _check_url(url)
    if password and token:
        raise RepositoryError("give a password (with --username) or a bearer token, not both")
    if password and not username:
        raise RepositoryError("a password needs --username")
    if token and kind == "oci":
        raise RepositoryError("an OCI registry takes --username and --password-stdin, no token")
    if ca_file:
        if kind == "oci":
            raise RepositoryError(
                "--ca-file is not supported for OCI registries (Helm's registry client uses "
                "the system's CAs); use --insecure-skip-tls-verify for a test registry"
            )
        path = Path(ca_file).expanduser()
        if not path.is_file():
            raise RepositoryError(f"--ca-file {ca_file}: no such file")
        ca_file = str(path.resolve())
    return RepositoryRecord(
        name=name,
        url=url.rstrip("/"),
        kind=kind,
        username=username,
        secret=_seal(password, token),
        ca_file=ca_file,
        insecure=insecure,
        added_at=datetime.now(UTC),
    )


def public_view(repository: RepositoryRecord) -> dict[str, Any]:
    """What may be shown of a repository: never its username, password or token."""
    if repository.secret and repository.username:
        auth = "basic"
    elif repository.secret:
        auth = "token"
    else:
        auth = "none"
    return {
        "name": repository.name,
        "url": repository.url,
        "kind": repository.kind,
        "auth": auth,
        "ca_file": repository.ca_file,
        "insecure_skip_tls_verify": repository.insecure,
        "added_at": repository.added_at.isoformat() if repository.added_at else None,
        "updated_at": (
            repository.index_fetched_at.isoformat() if repository.index_fetched_at else None
        ),
        "charts": len({e["name"] for e in repository.index or ()}),
    }


async def require(store: Store, name: str) -> RepositoryRecord:
    """The registered repository `name` (with its index), or RepositoryError."""
    check_name(name)
    repository = await store.get_repository(name)
    if repository is None:
        raise RepositoryNotFound(
            f"no repository named {name!r}; `helmguard repo list` shows the registered ones"
        )
    return repository


async def add(store: Store, repository: RepositoryRecord) -> RepositoryRecord:
    """Register `repository` and, for a Helm repository, read its index; if the index cannot
    be read nothing stays registered (the error says why)."""
    if not await store.add_repository(repository):
        raise RepositoryExists(
            f"a repository named {repository.name!r} is already registered; "
            f"`helmguard repo remove {repository.name}` first to replace it"
        )
    if repository.kind == "helm":
        try:
            await update(store, repository.name)
        except BaseException:
            await store.remove_repository(repository.name)
            raise
    return await require(store, repository.name)


# ---- the index --------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def index_entries(index: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chart versions of an index.yaml, reduced to what the catalogue keeps."""
    kept: list[dict[str, Any]] = []
    for name, versions in sorted(index.get("entries", {}).items()):
        for entry in versions if isinstance(versions, list) else ():
            if not isinstance(entry, dict) or not _text(entry.get("version")):
                continue
            keywords = entry.get("keywords")
            urls = entry.get("urls")
            kept.append(
                {
                    "name": str(name),
                    "version": _text(entry.get("version")),
                    "app_version": _text(entry.get("appVersion")),
                    "created": _text(entry.get("created")),
                    "description": _text(entry.get("description")),
                    "keywords": [str(k) for k in keywords] if isinstance(keywords, list) else [],
                    "deprecated": entry.get("deprecated") is True,
                    "urls": [str(u) for u in urls] if isinstance(urls, list) else [],
                    "digest": _text(entry.get("digest")),
                }
            )
    return kept


def fetch_entries(repository: RepositoryRecord) -> list[dict[str, Any]]:
    """Read the repository's index now (blocking I/O: run it in a thread)."""
    if repository.kind == "oci":
        raise RepositoryError(
            f"repository {repository.name} is an OCI registry: registries have no index to "
            "update; name the chart (oci://…/CHART) and its version"
        )
    return index_entries(fetch_index(repository.url, auth_for(repository)))


async def update(store: Store, name: str | None = None) -> list[tuple[str, int]]:
    """Refresh the cached index of `name` (else of every Helm repository): (name, charts).

    Every repository is read before anything is stored; one that cannot be read raises and
    leaves every cached index as it was.
    """
    import asyncio

    targets = (
        [await require(store, name)]
        if name is not None
        else [r for r in await store.list_repositories() if r.kind == "helm"]
    )
    fetched = [(r, await asyncio.to_thread(fetch_entries, r)) for r in targets]
    now = datetime.now(UTC)
    for repository, entries in fetched:
        await store.set_repository_index(repository.name, entries, now)
    return [(r.name, len({e["name"] for e in entries})) for r, entries in fetched]


def _version_of(entry: Mapping[str, Any]) -> ChartVersion:
    return ChartVersion(
        name=entry["name"],
        version=entry["version"],
        app_version=entry["app_version"],
        created=entry["created"],
        description=entry["description"],
        keywords=tuple(entry["keywords"]),
        deprecated=bool(entry["deprecated"]),
    )


def _newest_first(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(entries, key=lambda e: _version_key(str(e["version"])), reverse=True)


def search(repositories: Sequence[RepositoryRecord], query: str = "") -> list[ChartSummary]:
    """Charts whose name, keywords or description contain `query` (case-insensitive; every
    chart when empty), by repository and name, each with its newest version."""
    wanted = query.strip().lower()
    found: list[ChartSummary] = []
    for repository in repositories:
        by_chart: dict[str, list[Mapping[str, Any]]] = {}
        for entry in repository.index or ():
            by_chart.setdefault(entry["name"], []).append(entry)
        for name, entries in sorted(by_chart.items()):
            latest = _newest_first(entries)[0]
            haystack = " ".join(
                [name, latest["description"], *[k for e in entries for k in e["keywords"]]]
            ).lower()
            if wanted in haystack:
                found.append(ChartSummary(repository.name, name, _version_of(latest), len(entries)))
    return found


def versions(repository: RepositoryRecord, chart: str) -> list[ChartVersion]:
    """The versions of `chart` in the repository's cached index, newest first."""
    entries = [e for e in repository.index or () if e["name"] == chart]
    if not entries:
        raise RepositoryNotFound(
            f"repository {repository.name} has no chart {chart!r} in its index"
            + ("" if repository.index is not None else " (never updated: run `repo update`)")
        )
    return [_version_of(e) for e in _newest_first(entries)]


# ---- one chart --------------------------------------------------------------------------


def _read_text(directory: Path, names: Sequence[str], limit: int) -> str:
    """The first of `names` present in `directory` (case-insensitive), cut at `limit` bytes."""
    present = {p.name.lower(): p for p in directory.iterdir() if p.is_file()}
    for name in names:
        path = present.get(name.lower())
        if path is not None:
            return path.read_bytes()[:limit].decode("utf-8", errors="replace")
    return ""


def describe_chart(directory: Path) -> ChartInfo:
    """What the chart in `directory` says about itself: Chart.yaml's name, version, app
    version and description, its README, default values and values.schema.json."""
    from helmguard import goyaml

    try:
        meta = goyaml.load((directory / "Chart.yaml").read_bytes())
    except (OSError, goyaml.YAMLError) as exc:
        raise RepositoryError(f"{directory.name}: Chart.yaml cannot be read: {exc}") from None
    meta = meta if isinstance(meta, dict) else {}
    return ChartInfo(
        name=_text(meta.get("name")) or directory.name,
        version=_text(meta.get("version")),
        app_version=_text(meta.get("appVersion")),
        description=_text(meta.get("description")),
        readme=_read_text(directory, ["README.md", "README.txt", "README"], MAX_README_BYTES),
        values=_read_text(directory, ["values.yaml", "values.yml"], MAX_VALUES_BYTES),
        schema=_read_text(directory, ["values.schema.json"], MAX_VALUES_BYTES),
    )


def chart_details(
    repository: RepositoryRecord, chart: str, version: str
) -> tuple[ChartInfo, bytes]:
    """Download `chart` at `version` (blocking I/O: run it in a thread): what it says about
    itself, and the archive's bytes."""
    if not _CHART.match(chart):
        raise RepositoryError(f"{chart!r} is not a chart name")
    if not _VERSION.match(version):
        raise RepositoryError(f"{version!r} is not a chart version")
    auth = auth_for(repository)
    with tempfile.TemporaryDirectory(prefix="helmguard-catalogue-") as tmp:
        work = Path(tmp)
        if repository.kind == "oci":
            archive = fetch_archive(f"{repository.url}/{chart}", version, work, auth=auth)
        else:
            archive = fetch_archive(chart, version, work, repo=repository.url, auth=auth)
        return describe_chart(extract_archive(archive, work / "chart")), archive.read_bytes()
