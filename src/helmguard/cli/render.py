"""`helmguard render`: print a chart's manifests, like `helm template`."""

from __future__ import annotations

from typing import Any

import click

from helmguard.chart.render import render_chart, template_output
from helmguard.chart.source import ChartError
from helmguard.cli.chart_options import chart_options, request_from_options


@click.command("render")
@chart_options
@click.option("--include-crds", is_flag=True, help="Also print the CRDs from crds/ folders.")
@click.option(
    "--is-upgrade",
    is_flag=True,
    help="Render as an upgrade: .Release.IsUpgrade true, IsInstall false (Revision stays 1, "
    "as with helm template).",
)
def render(include_crds: bool, **kwargs: Any) -> None:
    """Render CHART with the real Helm engine and print the manifests (hooks included).

    As `helm template`: an install of revision 1 (.Release.IsInstall), Helm's default
    capabilities unless --kube-version / --api-versions say otherwise (the defaults of the
    Helm build behind the engine), and a `lookup` that finds nothing.
    """
    try:
        rendered = render_chart(request_from_options(**kwargs))
    except ChartError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    click.echo(template_output(rendered, include_crds=include_crds), nl=False)
