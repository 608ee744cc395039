"""`helmguard check` and `helmguard graph`: a chart's references, resolved and reported."""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING, Any

import click

from helmguard.cli.chart_options import chart_options, request_from_options
from helmguard.cli.duration import Duration
from helmguard.cli.options import connection_options

if TYPE_CHECKING:
    from helmguard.chart.render import RenderedChart, RenderRequest


def _render_or_exit(request: RenderRequest) -> RenderedChart:
    """Render, turning every user-caused chart problem into a message and exit code 2."""
    from helmguard.chart.render import render_chart
    from helmguard.chart.source import ChartError
    from helmguard.manifest import ManifestError

    try:
        return render_chart(request)
    except (ChartError, ManifestError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None


def _kubeconfig_present(kubeconfig: str | None, context: str | None) -> bool:
    """Whether a cluster is configured, the way kubectl would find one."""
    import os
    from pathlib import Path

    from helmguard.kube.incluster import service_account_dir

    if kubeconfig or context or os.environ.get("KUBECONFIG"):
        return True
    home = Path(os.environ.get("HOME", "~")).expanduser()
    return (home / ".kube" / "config").is_file() or (
        service_account_dir(os.environ) / "token"
    ).is_file()


@click.command("check")
@chart_options
@click.option(
    "--offline",
    is_flag=True,
    help="Resolve against the chart and built-ins only; never contact a cluster.",
)
@connection_options
@click.option(
    "--create-namespace",
    is_flag=True,
    help="The deploy will create the release namespace if it is missing.",
)
@click.option(
    "--as-deployer",
    "as_deployer",
    is_flag=True,
    help="Also print every permission the deploy needs and whether this identity holds it.",
)
@click.option(
    "--timeout",
    type=Duration(minimum=0.1),
    default="30s",
    show_default=True,
    help="How long to keep retrying an unavailable or throttling API server (5m, 30s, ...).",
)
@click.option("-v", "--verbose", is_flag=True, help="Print API request counts (to stderr).")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
def check(
    offline: bool,
    kubeconfig: str | None,
    context: str | None,
    create_namespace: bool,
    as_deployer: bool,
    timeout: float,
    verbose: bool,
    output: str,
    fail_on: str,
    **kwargs: Any,
) -> None:
    """Render CHART and report every reference that will break at install.

    With a kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config), references are
    looked up in the cluster, the deployer's permissions are checked and every object
    is dry-run on the server; nothing is written. --offline skips the cluster.

    With a cluster, the chart renders as deploying the release now would: an upgrade
    (.Release.Revision the next one, IsUpgrade) when it has records, else an install of
    revision 1, the cluster's capabilities, and `lookup` reading the cluster. Offline, as
    `helm template`: an install of revision 1, Helm's default capabilities (or
    --kube-version / --api-versions), a lookup that finds nothing.

    Exit codes: 0 no finding at --fail-on severity, 1 findings, 2 bad usage or input,
    or a cluster that cannot be reached or answered.
    """
    from helmguard.chart.source import ChartError
    from helmguard.deploy.context import as_deployed
    from helmguard.manifest import ManifestError
    from helmguard.preflight.check import check as run_check
    from helmguard.preflight.findings import Severity
    from helmguard.preflight.report import to_json, to_rbac_table, to_sarif, to_table

    use_cluster = not offline and _kubeconfig_present(kubeconfig, context)
    if not offline and not use_cluster and (verbose or as_deployer):
        click.echo("no kubeconfig found: checking offline", err=True)
    try:
        report = run_check(
            request_from_options(**kwargs),
            offline=not use_cluster,
            kubeconfig=kubeconfig,
            context=context,
            create_namespace=create_namespace,
            timeout=timeout,
            prepare=lambda kube, req: as_deployed(
                kube, req, timeout=timeout, forbidden=lambda note: click.echo(note, err=True)
            ),
        )
    except (ChartError, ManifestError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except Exception as exc:
        from helmguard.kube.errors import KubeError

        if not isinstance(exc, KubeError):
            raise
        click.echo(f"Error: {exc.explain()}", err=True)
        for note in getattr(exc, "__notes__", ()):
            click.echo(f"({note})", err=True)
        click.echo("Nothing was written to the cluster.", err=True)
        raise SystemExit(2) from None
    info = report.cluster
    if verbose and info is not None:
        phases = ", ".join(f"{k} {v}" for k, v in info.requests.items() if k != "total")
        click.echo(
            f"cluster {info.server} ({info.context or 'in-cluster'}) as {info.identity}, "
            f"Kubernetes {info.kube_version}: {info.requests.get('total', 0)} API requests "
            f"({phases}); {info.list_requests} list calls for {report.references} references; "
            f"{info.dry_run_verified} objects passed the server dry run; {info.seconds:.2f} s",
            err=True,
        )
    tty = sys.stdout.isatty()
    width = max(100, shutil.get_terminal_size().columns) if tty else 120
    if output == "json":
        click.echo(to_json(report), nl=False)
    elif output == "sarif":
        click.echo(to_sarif(report), nl=False)
    else:
        if as_deployer:
            click.echo(to_rbac_table(report, color=tty, width=width), nl=False)
        click.echo(to_table(report, color=tty, width=width), nl=False)
    threshold = Severity.WARNING if fail_on == "warning" else Severity.ERROR
    if report.failed(threshold):
        raise SystemExit(1)


@click.command("graph")
@chart_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "dot"]),
    default="text",
    show_default=True,
)
def graph(output: str, **kwargs: Any) -> None:
    """Render CHART and print its by-name references and how each resolves."""
    from helmguard.preflight.check import analyze_rendered
    from helmguard.preflight.graphview import to_dot, to_text

    request = request_from_options(**kwargs)
    rendered = _render_or_exit(request)
    analysis = analyze_rendered(rendered, api_versions=request.api_versions)
    text = to_dot(analysis.resolutions) if output == "dot" else to_text(analysis.resolutions)
    click.echo(text, nl=False)
