"""Render a chart with the real Helm engine, and sort the output the way Helm does.

One file past 400 lines: both backends and Helm's SortManifests classification are one
contract with `helm template`.

Two backends behind `render_chart`: "sdk" (helm-python-sdk, Helm's Go engine in-process,
no binary needed) and "helm" (a `helm` v4 binary's `helm template`). Both outputs go
through the same classification (Helm's SortManifests: template paths sorted, documents
split, hooks apart by the `helm.sh/hook` annotation, each list stably ordered by Helm's
InstallOrder), so both backends give identical results for the same chart.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from helmguard.chart.helm_binary import find_helm
from helmguard.chart.kubeversion import ConstraintError, compatible
from helmguard.chart.postrender import PostRenderer, post_render, resolve
from helmguard.chart.source import NO_AUTH, ChartError, RepoAuth, resolve_chart
from helmguard.chart.values import ValuesOptions, merge_user_values
from helmguard.manifest import (
    CLUSTER_SCOPED_KINDS,
    HELM_INSTALL_ORDER,
    K8sObject,
    ManifestError,
    kind_rank,
    parse_crd_file,
    parse_objects,
    split_documents,
)

HOOK_ANNOTATION = "helm.sh/hook"
HOOK_WEIGHT_ANNOTATION = "helm.sh/hook-weight"
HOOK_DELETE_ANNOTATION = "helm.sh/hook-delete-policy"
HOOK_EVENTS = frozenset(
    {
        "pre-install",
        "post-install",
        "pre-delete",
        "post-delete",
        "pre-upgrade",
        "post-upgrade",
        "pre-rollback",
        "post-rollback",
        "test",
    }
)
# Helm 2's name for the test event, still accepted by Helm v4.
_EVENT_ALIASES = {"test-success": "test"}
RENDERERS = ("sdk", "helm")

# `helm template` prints each document as "---\n# Source: <path>\n<content>\n".
_SOURCE_MARKER = re.compile(r"^---\n# Source: (.*)\n", re.MULTILINE)
_HELM_TIMEOUT = 300
# Go's encoding/json writes each byte that is not UTF-8 as the escape \ufffd (a real
# U+FFFD stays a literal character); see `_go_json`.
_GO_INVALID_BYTE = re.compile(r"(?<!\\)((?:\\\\)*)\\ufffd")
_INVALID_BYTE = "\udcff"


@dataclass(frozen=True)
class Hook:
    """A templated object Helm runs at lifecycle events instead of installing it."""

    obj: K8sObject
    events: tuple[str, ...]
    weight: int
    delete_policies: tuple[str, ...]


@dataclass(frozen=True)
class RenderedChart:
    """What a chart renders to, with hooks, CRDs and NOTES kept apart from the objects."""

    release: str
    namespace: str
    chart_name: str
    chart_version: str
    app_version: str
    # Regular (non-hook) objects in the order `helm template` prints them: template paths
    # sorted, documents in file order, then stably by Helm's InstallOrder kind rank.
    # Namespaced objects without metadata.namespace carry the release namespace.
    objects: tuple[K8sObject, ...]
    hooks: tuple[Hook, ...]
    crds: tuple[K8sObject, ...]  # from crds/ folders of the chart and enabled subcharts
    notes: str
    # (template path, document) per document, regular ones then hooks, in the order and
    # with the text `helm template` prints (see `template_output`).
    manifests: tuple[tuple[str, str], ...]
    values: Mapping[str, Any]  # the merged values the chart was rendered with
    # (crds/ file path, file text) as the chart ships them, for `render --include-crds`.
    crd_manifests: tuple[tuple[str, str], ...] = ()
    # The user-supplied values (-f/--set merged, before the chart's defaults): Helm's `config`.
    user_values: Mapping[str, Any] = field(default_factory=dict)
    # The chart as Helm serialises it into a release record (pkg/chart/v2.Chart's JSON).
    chart_json: Mapping[str, Any] = field(default_factory=dict)


def release_manifest(rendered: RenderedChart) -> str:
    """The `manifest` Helm stores in a release: every regular document, with its source."""
    regular = rendered.manifests[: len(rendered.manifests) - len(rendered.hooks)]
    return "".join(f"---\n# Source: {path}\n{text}\n" for path, text in regular)


def source_documents(text: str) -> list[tuple[str, str]]:
    """(template path, document) for each `---\n# Source: <path>\n` section of Helm output."""
    markers = list(_SOURCE_MARKER.finditer(text))
    out = []
    for number, match in enumerate(markers):
        end = markers[number + 1].start() if number + 1 < len(markers) else len(text)
        out.append((match.group(1), text[match.end() : end].removesuffix("\n")))
    return out


def objects_from_manifest(
    manifest: str, namespace: str, crds: tuple[K8sObject, ...] = ()
) -> tuple[K8sObject, ...]:
    """The objects of a stored release manifest, namespaced as a render would namespace them.

    Raises ManifestError for a manifest that is not valid Kubernetes YAML.
    """
    parsed = [obj for path, text in source_documents(manifest) for obj in parse_objects(text, path)]
    scoped = _cluster_scoped_custom_kinds((*crds, *parsed), ())
    return tuple(_with_namespace(obj, namespace, scoped) for obj in parsed)


_HIDDEN_SECRET = "# HIDDEN: The Secret output has been suppressed"


def template_output(
    rendered: RenderedChart, *, include_crds: bool = False, hide_secrets: bool = False
) -> str:
    """The text `helm template` prints for this render, byte for byte (hooks included);
    `hide_secrets`: each v1 Secret (not a hook) replaced by helm's --hide-secret line."""
    regular_count = len(rendered.manifests) - len(rendered.hooks)
    regular = [
        (path, _HIDDEN_SECRET if hide_secrets and _is_v1_secret(path, text) else text)
        for path, text in rendered.manifests[:regular_count]
    ]
    head = [*(rendered.crd_manifests if include_crds else ()), *regular]
    release_manifest = "".join(f"---\n# Source: {path}\n{text}\n" for path, text in head)
    # Helm prints the release manifest trimmed, then each hook.
    hooks = rendered.manifests[regular_count:]
    return (
        release_manifest.strip()
        + "\n"
        + "".join(f"---\n# Source: {path}\n{text}\n" for path, text in hooks)
    )


def _is_v1_secret(path: str, text: str) -> bool:
    objects = parse_objects(text, path)
    return bool(objects) and objects[0].kind == "Secret" and objects[0].api_version == "v1"


@dataclass(frozen=True)
class RenderRequest:
    """Everything `helm template` would take: chart reference, release, values, capabilities."""

    chart: str
    release: str = "release-name"
    namespace: str = "default"
    version: str | None = None
    repo: str | None = None
    values: ValuesOptions = field(default_factory=ValuesOptions)
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    # .Release.IsUpgrade (IsInstall is its opposite) and .Release.Revision: `helm
    # template`'s install of revision 1 unless told; a deploy gives what helm's
    # install/upgrade give (deploy.context.release_context).
    is_upgrade: bool = False
    revision: int = 1
    renderer: str = "sdk"
    # The user-supplied values already computed (an upgrade's --reuse-values and the
    # like); None: built from `values`.
    user_values: Mapping[str, Any] | None = None
    post_renderer: PostRenderer | None = None  # helm's --post-renderer (chart.postrender)
    # Values that replace the chart's values.yaml (Helm's upgrade --reuse-values sets the
    # chart's values to the previous revision's computed values); None: the chart's own.
    chart_values: Mapping[str, Any] | None = None
    # A kubeconfig (Kube.kubeconfig) the engine's `lookup` reads the cluster through, as
    # helm's install and upgrade do; None: lookup finds nothing, as in `helm template`.
    # It holds a credential: out of repr and equality.
    lookup: str | None = field(default=None, repr=False, compare=False)
    # helm's --skip-schema-validation, --render-subchart-notes, --enable-dns and
    # --dependency-update (charts/ filled from Chart.yaml when a dependency is missing).
    skip_schema_validation: bool = False
    subchart_notes: bool = False
    enable_dns: bool = False
    dependency_update: bool = False
    auth: RepoAuth = NO_AUTH  # helm's --username, --password, --ca-file, ... of --repo/oci://
    verify_keyring: str = ""  # helm's --verify --keyring: the archive's .prov checked first


@dataclass(frozen=True)
class _Document:
    path: str
    text: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class _EngineOutput:
    """What a backend hands back: documents in `helm template` order and the NOTES."""

    documents: tuple[_Document, ...]
    notes: str


def render_chart(req: RenderRequest) -> RenderedChart:
    """Render `req.chart` with the requested backend and split the result like Helm.

    Raises ChartError for every problem the user can fix: missing or hostile chart,
    unreadable values, schema violation and template errors (with Helm's message and the
    template path), output that is not valid Kubernetes YAML (template and line).
    """
    if req.renderer not in RENDERERS:
        raise ChartError(f"unknown renderer {req.renderer!r}; use one of: {', '.join(RENDERERS)}")
    _validate_release_name(req.release)
    if req.post_renderer is not None:
        if req.renderer == "helm":
            raise ChartError(
                "--post-renderer works with --renderer sdk (helm v4 takes a postrenderer "
                "plugin there, not an executable)"
            )
        resolve(req.post_renderer)  # before anything is rendered: a clear error first
    if req.renderer == "helm" and req.revision != 1:
        # The binary's lookup finds nothing either (README: Rendering).
        raise ChartError(
            "--renderer helm renders as `helm template` does, as revision 1; this upgrade "
            f"renders revision {req.revision}: use --renderer sdk"
        )
    if req.revision < 1:
        raise ChartError(f"revision {req.revision}: a release's revisions start at 1")
    user_values = (
        merge_user_values(req.values) if req.user_values is None else dict(req.user_values)
    )
    with tempfile.TemporaryDirectory(prefix="helmguard-chart-") as tmp:
        chart_path = resolve_chart(
            req.chart,
            version=req.version,
            repo=req.repo,
            workdir=Path(tmp),
            auth=req.auth,
            verify_keyring=req.verify_keyring,
        )
        if req.dependency_update:
            _update_dependencies(chart_path)
        if req.chart_values is not None:
            chart_path = _with_values(chart_path, req.chart_values, Path(tmp))
        schema_source = chart_path
        if req.skip_schema_validation:
            chart_path = _without_schemas(chart_path, Path(tmp))
        if req.renderer == "helm":
            # The binary first, so its own error messages are the ones the user sees.
            documents = _render_helm_binary(chart_path, user_values, req, Path(tmp))
        info, files = _render_sdk(chart_path, user_values, req)
        if req.skip_schema_validation:  # the record keeps the chart's schema, as helm's
            info = _with_schema_of(info, schema_source)
        if req.post_renderer is not None:
            notes = {k: v for k, v in files.items() if k.endswith("NOTES.txt")}
            rest = {k: v for k, v in files.items() if k not in notes}
            files = {**post_render(rest, req.post_renderer), **notes}
        output = _sort_manifests(files, info.name, subchart_notes=req.subchart_notes)
        if req.renderer == "helm":
            output = _EngineOutput(documents, output.notes)
    return _assemble(req, info, output, user_values)


@dataclass(frozen=True)
class _ChartInfo:
    """What the Helm SDK says about the chart after processing its dependencies."""

    name: str
    version: str
    app_version: str
    crds: tuple[K8sObject, ...]
    crd_manifests: tuple[tuple[str, str], ...]
    values: Mapping[str, Any]
    chart_json: Mapping[str, Any]


def _chart_json(chart: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    """pkg/chart/v2.Chart as encoding/json writes it: file contents base64, no subcharts."""

    def files(entries: list[dict[str, str]]) -> list[dict[str, str]]:
        return [
            {"name": f["name"], "data": base64.b64encode(f["data"].encode()).decode()}
            for f in entries
        ]

    return {
        "metadata": dict(meta),
        "lock": None,
        "templates": files(chart.templates),
        "values": chart.values,
        "schema": _encoded_schema(chart.schema),
        "schemamodtime": "0001-01-01T00:00:00Z",
        "files": files(chart.files),
    }


def _missing_dependencies(chart: Any, meta: Mapping[str, Any]) -> list[str]:
    """Chart.yaml's dependencies not in charts/ (Helm's CheckDependencies), by name."""
    present = {str(d.get("name")) for d in chart.dependencies}
    return [
        str(d.get("name"))
        for d in meta.get("dependencies") or []
        if str(d.get("name")) not in present
    ]


def _check_installable(chart: Any, meta: Mapping[str, Any], chart_path: Path) -> None:
    """The checks `helm template` makes before rendering: chart type and dependencies."""
    if meta.get("type") == "library":
        raise ChartError(
            f"{chart_path}: {meta.get('name')} is a library chart; library charts are not "
            "installable (render a chart that depends on it)"
        )
    missing = _missing_dependencies(chart, meta)
    if missing:
        raise ChartError(
            f"{chart_path}: found in Chart.yaml, but missing in charts/ directory: "
            f"{', '.join(missing)} (run `helm dependency build {chart_path}`)"
        )


def _encoded_schema(schema: Any) -> str | None:
    """values.schema.json as pkg/chart/v2.Chart's JSON holds it ([]byte: base64)."""
    return None if schema is None else base64.b64encode(json.dumps(schema).encode()).decode()


def _check_kube_version(meta: Mapping[str, Any], kube_version: str | None) -> None:
    """Chart.yaml's kubeVersion against the target version, as Helm checks it.

    Without a known version (no cluster, no --kube-version) the check is left to Helm's
    default, which charts in practice accept.
    """
    constraint = str(meta.get("kubeVersion") or "").strip()
    if not constraint or not kube_version:
        return
    version = kube_version if kube_version.startswith("v") else f"v{kube_version}"
    try:
        ok = compatible(constraint, version)
        why = ""
    except ConstraintError as exc:
        ok, why = False, f" ({exc})"
    if not ok:
        raise ChartError(
            f"chart requires kubeVersion: {constraint} which is incompatible with Kubernetes "
            f"{version}{why}; target a matching cluster or pass a matching --kube-version"
        )


def _validate_release_name(name: str) -> None:
    import helm_python

    try:
        helm_python.validate_release_name(name)
    except helm_python.HelmError as exc:
        raise ChartError(f"release name {name!r}: {exc}") from None


# ---- backend: helm-python-sdk -----------------------------------------------------------


def _with_values(chart_path: Path, values: Mapping[str, Any], workdir: Path) -> Path:
    """A copy of the chart whose values.yaml is `values` (Helm setting `chart.Values`).

    Written as JSON, which is YAML, so the values load back exactly as they were.
    """
    import helm_python

    try:
        with helm_python.Chart.load(chart_path) as chart:
            copy = Path(chart.save_dir(workdir / "with-values"))
    except helm_python.HelmError as exc:
        raise ChartError(f"{chart_path}: cannot load chart: {exc}") from None
    (copy / "values.yaml").write_text(json.dumps(dict(values)), encoding="utf-8")
    return copy


def _update_dependencies(chart_path: Path) -> None:
    """helm's --dependency-update: when a dependency is missing from charts/, Chart.yaml's
    dependencies are downloaded into it (and Chart.lock written), as `helm dependency update`."""
    import helm_python

    try:
        with helm_python.Chart.load(chart_path) as chart:
            missing = _missing_dependencies(chart, chart.metadata)
        if missing and chart_path.is_dir():
            helm_python.dependency_update(chart_path)
    except helm_python.HelmError as exc:
        raise ChartError(f"{chart_path}: --dependency-update: {exc}") from None


def _without_schemas(chart_path: Path, workdir: Path) -> Path:
    """A copy of the chart without any values.schema.json, its subcharts' included (helm's
    --skip-schema-validation; Helm's engine here always validates what it finds)."""
    import helm_python

    try:
        with helm_python.Chart.load(chart_path) as chart:
            copy = Path(chart.save_dir(workdir / "without-schemas"))
        archives = list(copy.glob("**/charts/*.tgz"))
        while archives:  # subchart archives unpacked in place, theirs in turn
            for archive in archives:
                helm_python.expand(archive.parent, archive)
                archive.unlink()
            archives = list(copy.glob("**/charts/*.tgz"))
    except helm_python.HelmError as exc:
        raise ChartError(f"{chart_path}: cannot load chart: {exc}") from None
    for schema in copy.glob("**/values.schema.json"):
        schema.unlink()
    return copy


def _with_schema_of(info: _ChartInfo, chart_path: Path) -> _ChartInfo:
    """`info` with the record's chart schema read from `chart_path` (the chart as given)."""
    import helm_python

    with helm_python.Chart.load(chart_path) as chart:
        schema = _encoded_schema(chart.schema)
    return replace(info, chart_json=MappingProxyType({**info.chart_json, "schema": schema}))


def _render_sdk(
    chart_path: Path, values: dict[str, Any], req: RenderRequest
) -> tuple[_ChartInfo, dict[str, str]]:
    """Render in-process, and read CRDs and values from the same, now processed, chart.

    A fresh chart handle per render: rendering mutates the loaded chart (it drops the
    subcharts that conditions and tags disable), which is also why CRDs and the merged
    values are read after rendering, from the chart exactly as Helm rendered it.
    """
    import helm_python
    from helm_python import _native

    opts: dict[str, Any] = {
        "name": req.release,
        "namespace": req.namespace,
        "revision": req.revision,
        "is_install": not req.is_upgrade,
        "is_upgrade": req.is_upgrade,
    }
    if req.kube_version:
        opts["kube_version"] = req.kube_version
    if req.api_versions:
        opts["api_versions"] = list(req.api_versions)
    if req.enable_dns:
        opts["enable_dns"] = True
    try:
        with helm_python.Chart.load(chart_path) as chart:
            meta = chart.metadata
            _check_installable(chart, meta, chart_path)
            _check_kube_version(meta, req.kube_version)
            lookup = req.lookup
            if req.enable_dns and lookup is not None:
                # helm-python-sdk's cluster-aware engine ignores enable_dns: DNS renders only
                # offline, where lookup finds nothing; a chart that needs both is refused.
                if _calls_lookup(Path(chart_path)):
                    raise ChartError(
                        f"{req.chart}: --enable-dns with a chart that calls lookup: the Helm "
                        "SDK in use resolves names only where lookup cannot read the cluster; "
                        'drop --enable-dns (getHostByName then gives "", as helm\'s default)'
                    )
                lookup = None
            raw = _render_engine(chart, values, opts, lookup)
            crd_files = _go_json(_native.call_string("helm_chart_crds", chart._raw()))
            merged = chart.merge_values(values)
            chart_json = _chart_json(chart, meta)
    except helm_python.HelmValuesError as exc:
        raise ChartError(f"invalid values: {exc}".rstrip()) from None
    except helm_python.HelmRenderError as exc:
        raise ChartError(f"template error: {exc}") from None
    except helm_python.HelmInvalidArgError as exc:
        raise ChartError(f"{req.chart}: invalid render option: {exc}") from None
    except helm_python.HelmError as exc:
        raise ChartError(f"{req.chart}: cannot load chart: {exc}") from None
    crds: list[K8sObject] = []
    for crd in crd_files:
        try:
            crds.extend(parse_crd_file(crd.get("data", ""), crd.get("filename", "")))
        except ManifestError as exc:
            raise ChartError(f"CRD file {exc}") from None
    info = _ChartInfo(
        name=str(meta.get("name", "")),
        version=str(meta.get("version", "")),
        app_version=str(meta.get("appVersion", "") or ""),
        crds=tuple(crds),
        crd_manifests=tuple((c.get("filename", ""), c.get("data", "")) for c in crd_files),
        values=MappingProxyType(merged),
        chart_json=MappingProxyType(chart_json),
    )
    files: dict[str, str] = _go_json(raw)
    notes = {p: t.replace(_INVALID_BYTE, "\ufffd") for p, t in files.items() if p.endswith(".txt")}
    return info, files | notes


_LOOKUP_CALL = re.compile(r"\{\{[^}]*\blookup\b")


def _calls_lookup(chart_dir: Path) -> bool:
    """Whether a template of the chart (or of a subchart directory under it) calls lookup."""
    return chart_dir.is_dir() and any(
        _LOOKUP_CALL.search(path.read_text(errors="replace"))
        for path in chart_dir.rglob("*")
        if path.is_file() and "templates" in path.relative_to(chart_dir).parts
    )


def _render_engine(
    chart: Any, values: dict[str, Any], opts: dict[str, Any], lookup: str | None
) -> str:
    """Helm's engine over `chart`: offline, or with a client of the cluster for `lookup`
    (helm's engine.New(restConfig), as its install and upgrade render)."""
    import helm_python
    from helm_python import _native

    if lookup is None:
        return _native.call_string(
            "helm_render", chart._raw(), json.dumps(values), json.dumps(opts)
        )
    with helm_python.Config(kubeconfig_content=lookup, namespace=opts["namespace"]) as config:
        return _native.call_string(
            "helm_render_with_config",
            config._raw(),
            chart._raw(),
            json.dumps(values),
            json.dumps(opts),
        )


def _go_json(raw: str) -> Any:
    """The engine's JSON, with each byte that was not UTF-8 a lone surrogate.

    Helm refuses a template (or crds/ file) with such bytes when it reads the YAML; the
    YAML reader refuses the surrogate the same way, naming the file and line. Go's JSON
    would otherwise have made each a U+FFFD that reads as valid text.
    """
    if "\\ufffd" in raw:
        raw = _GO_INVALID_BYTE.sub(r"\1\\udcff", raw)
    return json.loads(raw)


def _sort_manifests(
    files: Mapping[str, str], chart_name: str, *, subchart_notes: bool = False
) -> _EngineOutput:
    """Helm's renderResources + SortManifests, producing `helm template`'s document order;
    the NOTES are the chart's, with its subcharts' too when `subchart_notes`."""
    notes_parts: list[str] = []
    top_notes = f"{chart_name}/templates/NOTES.txt"
    regular: list[_Document] = []
    hooks: list[_Document] = []
    for path in sorted(files):
        content = files[path]
        if path.endswith("NOTES.txt"):
            if subchart_notes or path == top_notes:
                notes_parts.append(content)
            continue
        if Path(path).name.startswith("_") or not content.strip():
            continue
        for text in split_documents(content.lstrip()):
            doc = _document(path, text.lstrip(), content)
            if _hook_events(doc.body) is None:
                regular.append(doc)
            elif _hook_events(doc.body):
                hooks.append(doc)
            # A hook annotation naming an unknown event: Helm drops the document.
    ordered = [*_by_kind(regular), *_by_kind(hooks)]
    return _EngineOutput(tuple(ordered), "\n".join(notes_parts))


def _document(path: str, text: str, whole: str | None = None) -> _Document:
    """A document with its parsed head; bad output is reported with the template and line.

    `whole` is the template's full rendered output, so the line number is the template's.
    """
    try:
        objects = parse_objects(text, path)
    except ManifestError as exc:
        error = exc
        if whole is not None:
            try:
                parse_objects(whole, path)
            except ManifestError as whole_exc:
                error = whole_exc
        raise ChartError(f"rendered output is not valid Kubernetes YAML: {error}") from None
    body: Mapping[str, Any] = objects[0].body if objects else {}
    return _Document(path, text, body)


def _by_kind(docs: list[_Document]) -> list[_Document]:
    """Stable sort by Helm's InstallOrder; unknown kinds last, alphabetically."""

    def key(doc: _Document) -> tuple[int, str]:
        kind = str(doc.body.get("kind", ""))
        rank = kind_rank(kind)
        return (rank, kind if rank == len(HELM_INSTALL_ORDER) else "")

    return sorted(docs, key=key)


def _hook_events(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """None for a regular object; the events of a hook; () for a hook Helm would drop."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, Mapping) or HOOK_ANNOTATION not in annotations:
        return None
    events = tuple(
        _EVENT_ALIASES.get(name, name)
        for name in (e.strip().lower() for e in str(annotations[HOOK_ANNOTATION]).split(","))
    )
    if any(e not in HOOK_EVENTS for e in events):
        return ()
    return events


# ---- backend: helm binary ---------------------------------------------------------------


def _render_helm_binary(
    chart_path: Path, values: dict[str, Any], req: RenderRequest, tmp: Path
) -> tuple[_Document, ...]:
    """`helm template` with the already-merged user values, so both backends see the same input."""
    helm = find_helm()
    values_file = tmp / "helmguard-values.json"
    values_file.write_text(json.dumps(values), encoding="utf-8")
    args = [
        str(helm),
        "template",
        req.release,
        str(chart_path),
        "--namespace",
        req.namespace,
        "--values",
        str(values_file),
    ]
    if req.kube_version:
        args += ["--kube-version", req.kube_version]
    for api in req.api_versions:
        args += ["--api-versions", api]
    if req.is_upgrade:
        args.append("--is-upgrade")
    if req.enable_dns:
        args.append("--enable-dns")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(tmp / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp / "helm-config"),
        "HELM_DATA_HOME": str(tmp / "helm-data"),
    }
    try:
        done = subprocess.run(
            args, capture_output=True, env=env, timeout=_HELM_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChartError(f"cannot run {helm}: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().removeprefix("Error: ")
        message = message.split("\n\nUse --debug flag")[0]
        raise ChartError(f"helm template failed: {message}")
    try:
        stdout = done.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = done.stdout.count(b"\n", 0, exc.start) + 1
        raise ChartError(
            f"rendered output is not valid Kubernetes YAML: line {line} of `helm template`'s "
            f"output is not UTF-8 ({exc.reason})"
        ) from None
    return tuple(_document(path, text) for path, text in source_documents(stdout))


# ---- assembling the result --------------------------------------------------------------


def _assemble(
    req: RenderRequest, info: _ChartInfo, output: _EngineOutput, user_values: Mapping[str, Any]
) -> RenderedChart:
    cluster_scoped_crd_kinds = _cluster_scoped_custom_kinds(info.crds, output.documents)
    objects: list[K8sObject] = []
    hooks: list[Hook] = []
    manifests: list[tuple[str, str]] = []
    for doc in output.documents:
        manifests.append((doc.path, doc.text))
        if not doc.body:
            continue
        obj = _with_namespace(
            K8sObject(doc.body, doc.path), req.namespace, cluster_scoped_crd_kinds
        )
        events = _hook_events(doc.body)
        if events is None:
            objects.append(obj)
        elif events:
            hooks.append(_hook(obj, events))
    return RenderedChart(
        release=req.release,
        namespace=req.namespace,
        chart_name=info.name,
        chart_version=info.version,
        app_version=info.app_version,
        objects=tuple(objects),
        hooks=tuple(hooks),
        crds=info.crds,
        notes=output.notes,
        manifests=tuple(manifests),
        values=info.values,
        crd_manifests=info.crd_manifests,
        user_values=MappingProxyType(dict(user_values)),
        chart_json=info.chart_json,
    )


def _hook(obj: K8sObject, events: tuple[str, ...]) -> Hook:
    annotations = obj.annotations
    raw_weight = str(annotations.get(HOOK_WEIGHT_ANNOTATION, ""))
    # Helm's calculateHookWeight: strconv.Atoi, and 0 for anything it cannot parse.
    weight = int(raw_weight) if re.fullmatch(r"[+-]?\d+", raw_weight) else 0
    policies = tuple(
        p.strip().lower()
        for p in str(annotations.get(HOOK_DELETE_ANNOTATION, "")).split(",")
        if p.strip()
    )
    return Hook(obj=obj, events=events, weight=weight, delete_policies=policies)


def _cluster_scoped_custom_kinds(
    crds: tuple[K8sObject, ...], documents: tuple[_Document, ...]
) -> frozenset[tuple[str, str]]:
    """(group, kind) of every cluster-scoped CRD the chart defines, in crds/ or templates/."""
    found: set[tuple[str, str]] = set()
    candidates = [c.body for c in crds] + [d.body for d in documents]
    for body in candidates:
        if body.get("kind") != "CustomResourceDefinition":
            continue
        spec = body.get("spec") or {}
        if spec.get("scope") == "Cluster":
            kind = str((spec.get("names") or {}).get("kind", ""))
            found.add((str(spec.get("group", "")), kind))
    return frozenset(found)


def _with_namespace(
    obj: K8sObject, namespace: str, cluster_scoped_crd_kinds: frozenset[tuple[str, str]]
) -> K8sObject:
    """Fill in the release namespace where Helm's apply would put the object."""
    if obj.namespace or obj.kind in CLUSTER_SCOPED_KINDS:
        return obj
    if (obj.ref.group, obj.kind) in cluster_scoped_crd_kinds:
        return obj
    body = dict(obj.body)
    body["metadata"] = {**obj.metadata, "namespace": namespace}
    return K8sObject(body, obj.source)
