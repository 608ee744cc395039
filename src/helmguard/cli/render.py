"""`helmguard render`: print a chart's manifests, like `helm template`."""

from __future__ import annotations

from typing import Any

import click

from helmguard.chart.render import render_chart
from helmguard.chart.source import ChartError
from helmguard.cli.chart_options import chart_options, request_from_options


@click.command("render")
@chart_options
@click.option("--include-crds", is_flag=True, help="Also print the CRDs from crds/ folders.")
@click.option("--is-upgrade", is_flag=True, help="Render as an upgrade (.Release.IsUpgrade).")
def render(include_crds: bool, **kwargs: Any) -> None:
    """Render CHART with the real Helm engine and print the manifests (hooks included)."""
    try:
        rendered = render_chart(request_from_options(**kwargs))
    except ChartError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    out: list[str] = []
    if include_crds:
        for path, text in rendered.crd_manifests:
            out.append(f"---\n# Source: {path}\n{text.rstrip(chr(10))}\n")
    for path, text in rendered.manifests:
        out.append(f"---\n# Source: {path}\n{text}")
    click.echo("".join(out), nl=False)
