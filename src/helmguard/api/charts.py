"""Chart references and values as the API accepts them, turned into a RenderRequest.

A local chart path must lie inside one of the allowed roots (no `..`, no escaping by
symlink); `upload:<sha256>` names an archive uploaded with PUT /api/charts; `oci://` and
`--repo` charts go through `chart.source` like on the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from helmguard import goyaml
from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.preflight.report import Report

if TYPE_CHECKING:
    from helmguard.kube.client import Kube

# Opens a connection to the cluster checks and operations run against.
KubeFactory = Callable[[], Awaitable["Kube"]]

_UPLOAD = re.compile(r"^upload:([0-9a-f]{64})$")
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
        None, ge=1, le=2**31 - 1, description="Default: the last deployed before the latest."
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
    upload_dir: Path
    max_values_bytes: int

    def chart_ref(self, chart: str, repo: str | None) -> str:
        """The reference to hand to `chart.source`; raise ChartInputError for forbidden ones."""
        upload = _UPLOAD.match(chart)
        if upload:
            path = self.upload_dir / f"{upload.group(1)}.tgz"
            if not path.is_file():
                raise ChartInputError(
                    "chart",
                    f"{chart}: no such upload; PUT the archive to /api/charts first",
                    status=404,
                )
            return str(path)
        if repo:
            if not _CHART_NAME.match(chart):
                raise ChartInputError("chart", f"{chart!r}: with `repo`, chart is a chart name")
            return chart
        if "://" in chart:
            return chart  # oci:// is pulled; anything else is refused by chart.source
        if "\x00" in chart or ".." in PurePosixPath(chart).parts or ".." in Path(chart).parts:
            raise ChartInputError("chart", f"{chart!r}: `..` is not allowed in a chart path")
        base = self.roots[0]
        path = (base / chart).resolve() if not Path(chart).is_absolute() else Path(chart).resolve()
        if not any(path == root or root in path.parents for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise ChartInputError(
                "chart",
                f"{chart!r} is outside the chart directories this server may read ({allowed})",
            )
        return str(path)

    def values_mapping(self, text: str) -> Mapping[str, Any]:
        """Parse the values YAML; raise ChartInputError (413 when too large, else 422)."""
        size = len(text.encode())
        if size > self.max_values_bytes:
            raise ChartInputError(
                "values",
                f"values are {size} bytes; the limit is {self.max_values_bytes}",
                status=413,
                kind="too_large",
            )
        if not text.strip():
            return {}
        try:
            parsed = goyaml.load(text)  # as Helm reads a -f file
        except goyaml.YAMLError as exc:
            where = f" at line {exc.line}" if exc.line else ""
            raise ChartInputError(
                "values", f"values are not valid YAML{where}: {exc.problem}"
            ) from None
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            what = "list" if isinstance(parsed, list) else "scalar"
            raise ChartInputError("values", f"values must be a YAML mapping, not a {what}")
        return parsed


@contextlib.contextmanager
def _with_values(request: RenderRequest, values: Mapping[str, Any]) -> Iterator[RenderRequest]:
    """`request` with `values` as a values file that lives as long as the context."""
    with tempfile.TemporaryDirectory(prefix="helmguard-values-") as tmp:
        files: tuple[str, ...] = ()
        if values:
            path = Path(tmp) / "values.yaml"
            # JSON (which Helm reads as YAML) keeps every value's type: a YAML dump
            # would write the string "y" plain, and Helm would read it as true.
            path.write_text(json.dumps(dict(values)))
            files = (str(path),)
        yield RenderRequest(
            chart=request.chart,
            release=request.release,
            namespace=request.namespace,
            version=request.version,
            repo=request.repo,
            values=ValuesOptions(values_files=files),
        )


def _check_sync(request: RenderRequest, values: Mapping[str, Any]) -> Report:
    from helmguard.preflight.check import check

    with _with_values(request, values) as full, _RENDER_LOCK:
        return check(full, offline=True)


async def _check_on_cluster(
    request: RenderRequest, values: Mapping[str, Any], kube_factory: KubeFactory
) -> Report:
    from helmguard.preflight.check import check_cluster

    # check_cluster renders in the event loop: hold the render lock without blocking it.
    await asyncio.to_thread(_RENDER_LOCK.acquire)
    try:
        with _with_values(request, values) as full:
            kube = await kube_factory()
            async with kube:
                return await check_cluster(full, kube=kube)
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
    from helmguard.chart.source import ChartError
    from helmguard.manifest import ManifestError

    values = sources.values_mapping(body.values)
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
