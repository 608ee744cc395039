"""Charts: where they come from, the values they get, and what the Helm engine renders."""

from helmguard.chart.render import Hook, RenderedChart, RenderRequest, render_chart
from helmguard.chart.source import ChartError, resolve_chart
from helmguard.chart.values import ValuesOptions, merge_user_values

__all__ = [
    "ChartError",
    "Hook",
    "RenderRequest",
    "RenderedChart",
    "ValuesOptions",
    "merge_user_values",
    "render_chart",
    "resolve_chart",
]
