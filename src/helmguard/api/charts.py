"""Chart references and values as the API accepts them, turned into a RenderRequest.

A local chart path must lie inside one of the allowed roots (no `..`, no escaping by
symlink); `upload:<sha256>` names an archive uploaded with PUT /api/charts; `oci://` and
`repo` charts go through `chart.source` like on the command line; no other URL is taken.
Values are checked with Helm's own reader and handed to Helm as the text that was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from helmguard.api.uploads import UploadCache
from helmguard.chart.render import RenderRequest
from helmguard.chart.source import ChartError
from helmguard.chart.values import ValuesOptions, values_from_text
from helmguard.preflight.report import Report

if TYPE_CHECKING:
    from helmguard.kube.client import Kube

# Opens a connection to the cluster checks and operations run against.
KubeFactory = Callable[[], Awaitable["Kube"]]

_UPLOAD = re.compile(r"^upload:([0-9a-f]{64})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# oci://host[:port]/path/name[:tag] (a digest with @sha256:...); Helm's registry client
# checks the rest when it pulls.
_OCI = re.compile(
    r"^oci://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._-]+)+(:[A-Za-z0-9._-]{1,128})?"
    r"(@sha256:[0-9a-f]{64})?$"
)
# Values nested deeper than this are refused (Helm's YAML reader stops at 10,000).
MAX_VALUES_DEPTH = 200
_CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Helm's in-process engine is not known to be thread-safe: one render at a time.
_RENDER_LOCK = threading.Lock()


class ChartInputError(Exception):
    """A request field the user must fix; `field` names it in the 4xx answer."""

    def __init__(self, field: str, message: str, *, status: int = 422, kind: str = "value_error"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        self.kind = kind


class CheckRequest(BaseModel):
    """A chart reference and values, as `helmguard check` takes them."""

    chart: str = Field(
        min_length=1,
        max_length=4096,
        description="Chart directory or .tgz under the server's chart roots, oci://..., "
        "a chart name with `repo`, or `upload:<sha256>` from PUT /api/charts.",
    )
    release: str = Field("release-name", min_length=1, max_length=53)
    namespace: str = Field("default", min_length=1, max_length=63)
    version: str | None = Field(None, max_length=128)
    repo: str | None = Field(None, max_length=4096, description="Chart repository URL.")
    values: str = Field("", description="Values as YAML (a mapping), like a -f file.")


class DeployRequest(CheckRequest):
    """A chart to install or upgrade, with how careful to be."""

    force: bool = Field(False, description="Deploy despite error findings of preflight.")
    atomic: bool = Field(False, description="Restore the previous revision if this one fails.")
    timeout: float = Field(300.0, gt=0, le=3600, description="Seconds for the whole operation.")


class RollbackRequest(BaseModel):
    revision: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Default: the one before the latest (helm rollback)."
    )
    timeout: float = Field(300.0, gt=0, le=3600)


class UninstallRequest(BaseModel):
    timeout: float = Field(300.0, gt=0, le=3600)


def render_request(body: CheckRequest, chart: str, values_path: str) -> RenderRequest:
    """The RenderRequest for a validated chart reference and a values file (may be "")."""
    return RenderRequest(
        chart=chart,
        release=body.release,
        namespace=body.namespace,
        version=body.version,
        repo=body.repo,
        values=ValuesOptions(values_files=(values_path,) if values_path else ()),
    )


@dataclass(frozen=True)
class ChartSources:
    """Where charts may come from and how big values may be."""

    roots: tuple[Path, ...]
    uploads: UploadCache
    max_values_bytes: int

    def chart_ref(self, chart: str, repo: str | None) -> str:
        """The reference to hand to `chart.source`; raise ChartInputError for forbidden ones.

        One path for every shape: `upload:<sha256>`, a chart name with `repo` (an http(s)
        URL), `oci://host/path`, else a local path that must resolve inside a chart root.
        No other URL scheme is accepted, so nothing can step around the root check.
        """
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in chart):
            raise ChartInputError("chart", f"{chart!r}: control characters are not allowed")
        upload = _UPLOAD.match(chart)
        if chart.startswith("upload:") and not upload:
            raise ChartInputError(
                "chart", f"{chart!r}: an upload is `upload:` and 64 lowercase hex digits"
            )
        if upload:
            path = self.uploads.get(upload.group(1))
            if path is None:
                raise ChartInputError(
                    "chart",
                    f"{chart}: no such upload (or it expired from the cache); PUT the archive "
                    "to /api/charts first",
                    status=404,
                )
            return str(path)
        if repo:  # "" is no repository, as `chart.source` reads it
            _check_repo_url(repo)
            if not _CHART_NAME.match(chart):
                raise ChartInputError("chart", f"{chart!r}: with `repo`, chart is a chart name")
            return chart
        if chart.startswith("oci://"):
            if not _OCI.match(chart) or ".." in chart[len("oci://") :].split("/"):
                raise ChartInputError(
                    "chart",
                    f"{chart!r}: not an OCI chart reference (oci://host[:port]/path/name)",
                )
            return chart
        if _SCHEME.match(chart):
            raise ChartInputError(
                "chart",
                f"{chart!r}: unsupported chart URL; use a path under the chart roots, "
                "oci://..., `upload:<sha256>`, or a chart name with `repo`",
            )
        if ".." in PurePosixPath(chart).parts:
            raise ChartInputError("chart", f"{chart!r}: `..` is not allowed in a chart path")
        base = self.roots[0]
        try:
            path = (base / chart).resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            raise ChartInputError("chart", f"{chart!r}: not a usable path: {exc}") from None
        if not any(path == root or root in path.parents for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise ChartInputError(
                "chart",
                f"{chart!r} is outside the chart directories this server may read ({allowed})",
            )
        return str(path)

    def values_text(self, text: str) -> str:
        """Check the values YAML as Helm will read it; return the text ("" for no values).

        Every way values can be wrong (size, encoding, YAML syntax, depth, aliasing, not a
        mapping) raises ChartInputError on `values`: 413 when too large, else 422.
        """
        try:
            size = len(text.encode())
        except UnicodeEncodeError as exc:
            raise ChartInputError(
                "values",
                f"values are not valid Unicode (an unpaired surrogate at position {exc.start})",
            ) from None
        if size > self.max_values_bytes:
            raise ChartInputError(
                "values",
                f"values are {size} bytes; the limit is {self.max_values_bytes}",
                status=413,
                kind="too_large",
            )
        if not text.strip():
            return ""
        too_deep = f"values nest deeper than {MAX_VALUES_DEPTH} levels of maps and lists"
        try:
            parsed = values_from_text(text, "values")
        except ChartError as exc:
            raise ChartInputError("values", str(exc)) from None
        except RecursionError:  # decoding Helm's answer: deeper than Python goes
            raise ChartInputError("values", too_deep) from None
        except Exception as exc:  # the parser's failures are the user's input, never a 500
            raise ChartInputError(
                "values", f"values cannot be read: {type(exc).__name__}: {exc}"
            ) from None
        if _deeper_than(parsed, MAX_VALUES_DEPTH):
            raise ChartInputError("values", too_deep)
        return text if parsed else ""


def _check_repo_url(repo: str) -> None:
    try:
        url = urlsplit(repo)
        ok = url.scheme in ("http", "https") and bool(url.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ChartInputError("repo", f"{repo!r}: a chart repository is an http:// or https:// URL")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether maps and lists nest more than `limit` deep (iterative: no recursion)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


@contextlib.contextmanager
def _with_values(request: RenderRequest, values: str) -> Iterator[RenderRequest]:
    """`request` with the `values` text as a values file that lives as long as the context."""
    with tempfile.TemporaryDirectory(prefix="helmguard-values-") as tmp:
        files: tuple[str, ...] = ()
        if values:
            path = Path(tmp) / "values.yaml"
            path.write_text(values, encoding="utf-8")
            files = (str(path),)
        yield RenderRequest(
            chart=request.chart,
            release=request.release,
            namespace=request.namespace,
            version=request.version,
            repo=request.repo,
            values=ValuesOptions(values_files=files),
        )


def _check_sync(request: RenderRequest, values: str) -> Report:
    from helmguard.preflight.check import check

    with _with_values(request, values) as full, _RENDER_LOCK:
        return check(full, offline=True)


async def _check_on_cluster(
    request: RenderRequest, values: str, kube_factory: KubeFactory
) -> Report:
    from helmguard.deploy.context import as_deployed
    from helmguard.preflight.check import check_cluster

    # check_cluster renders in the event loop: hold the render lock without blocking it.
    await asyncio.to_thread(_RENDER_LOCK.acquire)
    try:
        with _with_values(request, values) as full:
            kube = await kube_factory()
            async with kube:
                # Rendered as the deploy would: an upgrade's revision, lookup on the cluster.
                prepared = await as_deployed(kube, full, timeout=30.0)
                return await check_cluster(prepared, kube=kube)
    finally:
        _RENDER_LOCK.release()


async def run_check(
    sources: ChartSources, body: CheckRequest, kube_factory: KubeFactory | None = None
) -> Report:
    """Validate the inputs, then render and check; user errors -> ChartInputError.

    With `kube_factory`, the check runs against the cluster the Kube it opens talks to
    (lookups, RBAC, server-side dry run; raises KubeError when the cluster cannot answer);
    without, offline in a worker thread.
    """
    from helmguard.manifest import ManifestError

    values = sources.values_text(body.values)
    chart = sources.chart_ref(body.chart, body.repo)
    request = RenderRequest(
        chart=chart,
        release=body.release,
        namespace=body.namespace,
        version=body.version,
        repo=body.repo,
    )
    try:
        if kube_factory is not None:
            return await _check_on_cluster(request, values, kube_factory)
        return await asyncio.to_thread(_check_sync, request, values)
    except (ChartError, ManifestError) as exc:
        raise ChartInputError("chart", str(exc), kind="chart_error") from None
