"""Helm's upgrade values: which revision an upgrade starts from, and what it renders with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helmguard.deploy.release import RevisionManifest

VALUES_MODES = ("", "reuse", "reset", "reset-then-reuse")


def current_release(history: Sequence[RevisionManifest]) -> RevisionManifest | None:
    """The revision an upgrade starts from, as Helm's prepareUpgrade picks it."""
    if not history:
        return None
    last = history[-1]
    if last.status == "deployed":
        return last
    deployed = [h for h in history if h.status == "deployed"]
    if deployed:
        return deployed[-1]
    return last if last.status in ("failed", "superseded") else None


@dataclass(frozen=True)
class UpgradeValues:
    """An upgrade's values, as Helm's Upgrade.reuseValues computes them."""

    render: dict[str, Any]  # the values to render with
    config: dict[str, Any]  # the user-supplied values stored with the revision
    chart_values: dict[str, Any] | None = None  # --reuse-values: the chart defaults stored


def upgrade_values(
    new: Mapping[str, Any], current: RevisionManifest | None, mode: str
) -> UpgradeValues:
    """Helm's Upgrade.reuseValues for the new user values and the release as it stands.

    --reuse-values stores the new values coalesced over the previous ones, and replaces
    the new chart's values.yaml with the previous revision's computed values (Helm's
    `chart.Values = oldVals`, stored as the chart's values): keys the new chart's
    values.yaml adds do not get their defaults, exactly as with helm. `chart_values`
    carries that replacement to the render (RenderRequest.chart_values).
    """
    from helmguard.chart.values import coalesce_tables, coalesce_values

    if mode not in VALUES_MODES:
        raise ValueError(f"unknown values mode {mode!r}; use one of {VALUES_MODES}")
    vals = dict(new)
    if current is None or mode == "reset":
        return UpgradeValues(vals, vals)
    old = dict(current.config)
    if mode == "reuse":
        vals = coalesce_tables(vals, old)
        old_chart = dict((current.helm.get("chart") or {}).get("values") or {})
        return UpgradeValues(vals, vals, coalesce_values(old_chart, old))
    if mode == "reset-then-reuse":
        vals = coalesce_tables(vals, old)
        return UpgradeValues(vals, vals)
    if not vals and old:
        return UpgradeValues(old, old)
    return UpgradeValues(vals, vals)
