"""The chart and values options every chart command shares (render, check, graph, plan, deploy).

They mirror `helm template`'s flags so a Helm command line carries over unchanged: the
arguments are Helm's `[NAME] CHART` (`helm template web ./chart`, `helm upgrade --install
web ./chart`), and `--release NAME` says the same for those who prefer a flag.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from helmguard.chart.postrender import PostRenderer
from helmguard.chart.render import RENDERERS, RenderRequest
from helmguard.chart.source import DEVEL_VERSION, RepoAuth
from helmguard.chart.values import ValuesOptions

F = TypeVar("F", bound=Callable[..., Any])

# Applied bottom-up by click, so listed here in the order --help should show them.
_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.argument("positionals", nargs=-1, metavar="[NAME] CHART"),
    click.option(
        "--release",
        "--name",
        "release",
        help="Release name (Helm's NAME; or give it before CHART).",
    ),
    click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        help="Release namespace; namespaced objects without one go there.",
    ),
    click.option("--version", "chart_version", help="Chart version (with --repo or oci://)."),
    click.option(
        "--devel",
        is_flag=True,
        help="With --repo or oci://: the newest version, pre-releases too (helm's: version "
        "'>0.0.0-0'); ignored when --version is given.",
    ),
    click.option("--repo", help="Chart repository URL; CHART is then the chart's name."),
    click.option("--username", default="", help="User name for --repo or oci:// (helm's flag)."),
    click.option("--password", default="", help="Password for --repo or oci:// (helm's flag)."),
    click.option(
        "--pass-credentials",
        is_flag=True,
        help="Send --username/--password to a chart URL on another host too (helm's flag; "
        "without it only the repository's scheme, host and port get them).",
    ),
    click.option(
        "--ca-file",
        default="",
        help="CA bundle the chart repository's certificate is checked with.",
    ),
    click.option(
        "--cert-file",
        default="",
        help="Client certificate for the chart repository (helm's flag; with --repo).",
    ),
    click.option("--key-file", default="", help="The --cert-file's key (helm's flag)."),
    click.option(
        "--insecure-skip-tls-verify",
        is_flag=True,
        help="Do not check the chart repository's certificate (insecure; helm's flag).",
    ),
    click.option(
        "--verify",
        is_flag=True,
        help="Verify a chart archive (.tgz) against its provenance file (.prov beside it) "
        "with --keyring, as helm's; a directory is refused, as are --repo and oci:// here.",
    ),
    click.option(
        "--keyring",
        default=lambda: str(Path(os.environ.get("GNUPGHOME") or "~/.gnupg") / "pubring.gpg"),
        show_default="$GNUPGHOME/pubring.gpg, else ~/.gnupg/pubring.gpg",
        help="The public keyring --verify checks the signature with.",
    ),
    click.option(
        "--plain-http",
        is_flag=True,
        help="Pull an oci:// chart over HTTP (helm's flag; a registry on 127.0.0.1 or "
        "localhost is tried over HTTP after HTTPS anyway).",
    ),
    click.option(
        "-f",
        "--values",
        "values_files",
        multiple=True,
        help="Values file (YAML); repeatable, later files win.",
    ),
    click.option("--set", "set_values", multiple=True, help="key=value; repeatable."),
    click.option("--set-string", "set_string", multiple=True, help="key=value as strings."),
    click.option("--set-file", "set_file", multiple=True, help="key=path: value read from file."),
    click.option("--set-json", "set_json", multiple=True, help="key=JSON, or a JSON object."),
    click.option(
        "--set-literal",
        "set_literal",
        multiple=True,
        help="key=value, the value a literal string (commas, quotes and all); applied last.",
    ),
    click.option("--kube-version", help="Kubernetes version for .Capabilities.KubeVersion."),
    click.option(
        "--api-versions",
        "api_versions",
        multiple=True,
        help="API versions for .Capabilities.APIVersions; repeatable, comma-separated accepted.",
    ),
    click.option(
        "--post-renderer",
        "post_renderer",
        metavar="EXECUTABLE",
        help="Pipe the rendered manifests (hooks too) through EXECUTABLE (stdin to stdout) "
        "before they are checked, planned and applied; helm v4 runs the same through a "
        "postrenderer plugin.",
    ),
    click.option(
        "--post-renderer-args",
        "post_renderer_args",
        multiple=True,
        metavar="ARG",
        help="An argument to the post-renderer; repeatable.",
    ),
    click.option(
        "--skip-schema-validation",
        is_flag=True,
        help="Do not validate the values against the chart's values.schema.json (nor its "
        "subcharts'), as helm's.",
    ),
    click.option(
        "--render-subchart-notes",
        "subchart_notes",
        is_flag=True,
        help="The NOTES include the subcharts' NOTES.txt, as helm's.",
    ),
    click.option(
        "--enable-dns",
        is_flag=True,
        help="Templates' getHostByName looks names up (helm's flag; without it, it gives \"\").",
    ),
    click.option(
        "--dependency-update",
        is_flag=True,
        help="When a dependency in Chart.yaml is missing from the chart's charts/, download "
        "them all there first (and write Chart.lock), as helm's.",
    ),
    click.option(
        "--renderer",
        type=click.Choice(RENDERERS),
        default="sdk",
        show_default=True,
        help="sdk: Helm's engine in-process; helm: a helm v4 binary (HELMGUARD_HELM).",
    ),
)


DEFAULT_RELEASE = "release-name"  # helm template's name for a release nobody named


def chart_options(f: F) -> F:
    """Decorate a click command with `[NAME] CHART` and Helm's chart and values flags; the
    command gets `chart` and `release` (helm template's "release-name" when not named)."""
    return _with_chart(f, name_required=False)


def release_chart_options(f: F) -> F:
    """As `chart_options`, for commands that act on a release (deploy, install, upgrade,
    diff upgrade): its name is required, as `helm upgrade` and `helm install` require it."""
    return _with_chart(f, name_required=True)


def _with_chart(f: F, *, name_required: bool) -> F:
    @functools.wraps(f)
    def named(*args: Any, positionals: tuple[str, ...], **kwargs: Any) -> Any:
        kwargs["release"], kwargs["chart"] = name_and_chart(
            positionals, kwargs.get("release"), name_required=name_required
        )
        return f(*args, **kwargs)

    wrapped = cast(F, named)
    for option in reversed(_OPTIONS):
        wrapped = option(wrapped)
    return wrapped


def name_and_chart(
    positionals: tuple[str, ...], flag: str | None, *, name_required: bool
) -> tuple[str, str]:
    """(release, chart) from Helm's `[NAME] CHART` arguments and `--release`; UsageError (exit
    2) for no CHART, more than two arguments, two different names, or a name required and
    not given."""
    if not positionals:
        raise click.UsageError("Missing argument 'CHART' (the arguments are [NAME] CHART).")
    if len(positionals) > 2:
        extra = " ".join(positionals[2:])
        raise click.UsageError(f"Got unexpected extra argument(s) ({extra}): give [NAME] CHART.")
    if len(positionals) == 2:
        name, chart = positionals
        if flag is not None and flag != name:
            raise click.UsageError(
                f"the release is named twice: {name!r} before CHART and --release {flag!r}"
            )
        return name, chart
    if flag is None and name_required:
        raise click.UsageError(
            f"give the release a name: NAME before CHART ({positionals[0]}), as `helm upgrade "
            "--install NAME CHART`, or --release NAME."
        )
    return flag or DEFAULT_RELEASE, positionals[0]


def _split_commas(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for v in values for part in v.split(",") if part.strip())


def request_from_options(**kwargs: Any) -> RenderRequest:
    """The RenderRequest for the options `chart_options` added (other kwargs are ignored).

    Raises click.UsageError (exit 2) for --post-renderer-args without --post-renderer.
    """
    executable = kwargs.get("post_renderer")
    args = tuple(kwargs.get("post_renderer_args") or ())
    if args and not executable:
        raise click.UsageError("--post-renderer-args needs --post-renderer EXECUTABLE")
    return RenderRequest(
        chart=kwargs["chart"],
        release=kwargs.get("release") or DEFAULT_RELEASE,
        namespace=kwargs.get("namespace") or "default",
        version=kwargs.get("chart_version") or (DEVEL_VERSION if kwargs.get("devel") else None),
        repo=kwargs.get("repo"),
        values=ValuesOptions(
            values_files=tuple(kwargs.get("values_files") or ()),
            set_values=tuple(kwargs.get("set_values") or ()),
            set_string=tuple(kwargs.get("set_string") or ()),
            set_file=tuple(kwargs.get("set_file") or ()),
            set_json=tuple(kwargs.get("set_json") or ()),
            set_literal=tuple(kwargs.get("set_literal") or ()),
        ),
        kube_version=kwargs.get("kube_version"),
        api_versions=_split_commas(kwargs.get("api_versions") or ()),
        is_upgrade=bool(kwargs.get("is_upgrade", False)),
        renderer=kwargs.get("renderer") or "sdk",
        post_renderer=PostRenderer(str(executable), args) if executable else None,
        skip_schema_validation=bool(kwargs.get("skip_schema_validation")),
        subchart_notes=bool(kwargs.get("subchart_notes")),
        enable_dns=bool(kwargs.get("enable_dns")),
        dependency_update=bool(kwargs.get("dependency_update")),
        verify_keyring=str(Path(str(kwargs.get("keyring"))).expanduser())
        if kwargs.get("verify")
        else "",
        auth=RepoAuth(
            username=str(kwargs.get("username") or ""),
            password=str(kwargs.get("password") or ""),
            ca_file=str(kwargs.get("ca_file") or ""),
            insecure_skip_tls_verify=bool(kwargs.get("insecure_skip_tls_verify")),
            pass_credentials=bool(kwargs.get("pass_credentials")),
            plain_http=bool(kwargs.get("plain_http")),
            cert_file=str(kwargs.get("cert_file") or ""),
            key_file=str(kwargs.get("key_file") or ""),
        ),
    )
