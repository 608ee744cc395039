"""`helmguard check` and `helmguard graph`: a chart's references, resolved and reported."""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING, Any

import click

from helmguard.cli.chart_options import chart_options, request_from_options

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


@click.command("check")
@chart_options
@click.option(
    "--offline",
    is_flag=True,
    help="Resolve against the chart and built-ins only (the only mode for now).",
)
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
def check(offline: bool, output: str, fail_on: str, **kwargs: Any) -> None:
    """Render CHART and report every reference that will break at install.

    Exit codes: 0 no finding at --fail-on severity, 1 findings, 2 bad usage or input.
    """
    from helmguard.chart.source import ChartError
    from helmguard.manifest import ManifestError
    from helmguard.preflight.check import check as run_check
    from helmguard.preflight.findings import Severity
    from helmguard.preflight.report import to_json, to_sarif, to_table

    # Cluster lookups come with a later issue; until then every run resolves offline.
    try:
        report = run_check(request_from_options(**kwargs), offline=True)
    except (ChartError, ManifestError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    if output == "json":
        click.echo(to_json(report), nl=False)
    elif output == "sarif":
        click.echo(to_sarif(report), nl=False)
    else:
        tty = sys.stdout.isatty()
        width = max(100, shutil.get_terminal_size().columns) if tty else 120
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
