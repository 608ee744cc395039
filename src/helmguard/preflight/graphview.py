"""The reference graph as text (one edge a line) or Graphviz dot."""

from __future__ import annotations

from collections.abc import Sequence

from helmguard.manifest import ObjectRef
from helmguard.preflight.resolve import How, Resolution

_DOT_STYLE = {
    How.CHART: "solid",
    How.HOOK: "dashed",
    How.RUNTIME: "dashed",
    How.BUILT_IN: "dotted",
    How.RELEASE_NAMESPACE: "dotted",
    How.DECLARED: "dotted",
    How.CLUSTER: "solid",
    How.MISSING: "bold",
    How.UNKNOWN: "bold",
}


def _label(how: How, res: Resolution) -> str:
    if how is How.UNKNOWN and res.certain:
        return "missing: nothing can create it"
    return how.value


def to_text(resolutions: Sequence[Resolution]) -> str:
    """`source --path--> target  [how]`, one reference a line, grouped by source."""
    lines: list[str] = []
    current: ObjectRef | None = None
    for res in resolutions:
        ref = res.ref
        if ref.source != current:
            current = ref.source
            lines.append(str(current))
        extra = f" key={ref.key}" if ref.key else ""
        extra += " optional" if ref.optional else ""
        extra += " (implicit)" if ref.implicit else ""
        note = f": {res.note}" if res.note else ""
        lines.append(f"  {ref.path} -> {ref.target}{extra}  [{_label(res.how, res)}{note}]")
    return "\n".join(lines) + ("\n" if lines else "")


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(resolutions: Sequence[Resolution]) -> str:
    """A Graphviz digraph: nodes are objects, edges references; unresolved edges in red."""
    lines = ["digraph references {", "  rankdir=LR;", "  node [shape=box, fontsize=10];"]
    seen: set[ObjectRef] = set()
    for res in resolutions:
        for node in (res.ref.source, res.ref.target):
            if node not in seen:
                seen.add(node)
                outside = node == res.ref.target and res.how not in (How.CHART, How.HOOK)
                style = ", style=dashed" if outside else ""
                lines.append(f"  {_q(str(node))} [label={_q(str(node))}{style}];")
        bad = res.how in (How.MISSING, How.UNKNOWN)
        color = ", color=red" if bad else ""
        lines.append(
            f"  {_q(str(res.ref.source))} -> {_q(str(res.ref.target))} "
            f"[label={_q(res.ref.path)}, style={_DOT_STYLE[res.how]}{color}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
