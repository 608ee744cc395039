"""Chart.yaml `kubeVersion` constraints, checked the way Helm checks them before rendering.

Helm (chartutil.IsCompatibleRange) uses Masterminds semver v3 constraints: `||` between
alternatives, commas or spaces between conditions that must all hold, operators
`= != > < >= <= =< ~ ~> ^`, wildcards `x X *`, and hyphen ranges `1.2 - 1.4`. A version
with a pre-release only satisfies an alternative that mentions one (`>=1.30.0-0`). Helm
first cuts a Kubernetes version down to major.minor.patch (`v1.30.2-eks-1` -> `v1.30.2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_CONDITION = re.compile(r"^(=|!=|>=|<=|=<|>|<|~>|~|\^)?\s*(\S+)$")
_WILDCARDS = frozenset({"x", "X", "*"})


class ConstraintError(ValueError):
    """The constraint or version is not semver syntax Helm would accept."""


@dataclass(frozen=True)
class _Version:
    parts: tuple[int, int, int]
    pre: str
    wild: int  # how many leading parts are concrete (3 = none are wildcards)


def _parse(text: str) -> _Version:
    match = _VERSION.match(text.strip())
    if not match:
        raise ConstraintError(f"{text!r} is not a semantic version")
    raw = [match.group(i) for i in (1, 2, 3)]
    concrete = 0
    for part in raw:
        if part is None or part in _WILDCARDS:
            break
        concrete += 1
    numbers = [int(p) if p is not None and p not in _WILDCARDS else 0 for p in raw]
    return _Version((numbers[0], numbers[1], numbers[2]), match.group(4) or "", concrete)


def _pre_key(pre: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))


def _compare(a: _Version, b: _Version) -> int:
    if a.parts != b.parts:
        return -1 if a.parts < b.parts else 1
    if a.pre == b.pre:
        return 0
    if not a.pre or not b.pre:
        return 1 if not a.pre else -1
    return -1 if _pre_key(a.pre) < _pre_key(b.pre) else 1


def _bump(v: _Version, index: int) -> _Version:
    """The first version past every version that shares v's first `index` parts."""
    parts = list(v.parts[:index]) + [0] * (3 - index)
    parts[index - 1] += 1
    return _Version((parts[0], parts[1], parts[2]), "", 3)


def _lower(v: _Version) -> _Version:
    return _Version(v.parts, v.pre, 3)


def _check(op: str, c: _Version, v: _Version, include_pre: bool) -> bool:
    """One condition. Ranges are half-open: [low, high)."""
    if v.pre and not include_pre:
        return False
    low = _lower(c)
    if op in ("", "="):
        if c.wild == 3:
            return _compare(v, c) == 0
        return c.wild == 0 or (_compare(v, low) >= 0 and _compare(v, _bump(c, c.wild)) < 0)
    if op == "!=":
        return not _check("=", c, v, include_pre)
    if op == ">":
        if c.wild < 3:
            return c.wild > 0 and _compare(v, _bump(c, c.wild)) >= 0
        return _compare(v, c) > 0
    if op == ">=":
        return _compare(v, low) >= 0
    if op == "<":
        return _compare(v, low) < 0
    if op in ("<=", "=<"):
        if c.wild < 3:
            return c.wild == 0 or _compare(v, _bump(c, c.wild)) < 0
        return _compare(v, c) <= 0
    if op in ("~", "~>"):
        high = _bump(c, 1 if c.wild == 1 else 2) if c.wild > 0 else None
        return _compare(v, low) >= 0 and (high is None or _compare(v, high) < 0)
    if op == "^":
        if c.wild == 0:
            return True
        if c.parts[0] > 0 or c.wild == 1:
            high = _bump(c, 1)
        elif c.parts[1] > 0 or c.wild == 2:
            high = _bump(c, 2)
        else:
            high = _bump(c, 3)
        return _compare(v, low) >= 0 and _compare(v, high) < 0
    raise ConstraintError(f"unknown operator {op!r}")


def _conditions(alternative: str) -> list[tuple[str, str]]:
    text = re.sub(r"\s+-\s+", " - ", alternative.strip())
    tokens = [
        t for t in re.split(r"[\s,]+", re.sub(r"(=|!=|>=|<=|=<|>|<|~>|~|\^)\s+", r"\1", text)) if t
    ]
    conditions: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 1] == "-":
            conditions += [(">=", tokens[i]), ("<=", tokens[i + 2])]
            i += 3
            continue
        match = _CONDITION.match(tokens[i])
        if not match:
            raise ConstraintError(f"cannot parse {tokens[i]!r}")
        conditions.append((match.group(1) or "", match.group(2)))
        i += 1
    return conditions


def satisfies(version: str, constraint: str) -> bool:
    """Whether `version` (e.g. `v1.31.2`) meets a Chart.yaml kubeVersion `constraint`.

    Raises ConstraintError for syntax Helm's semver library would reject.
    """
    v = _parse(version)
    if v.wild != 3:
        raise ConstraintError(f"{version!r} is not a complete version")
    for alternative in constraint.split("||"):
        parsed = [(op, _parse(c)) for op, c in _conditions(alternative)]
        include_pre = any(c.pre for _, c in parsed)
        if parsed and all(_check(op, c, v, include_pre) for op, c in parsed):
            return True
    return False


def normalize_kube_version(version: str) -> str:
    """Helm's ParseKubeVersion for constraint checks: `v` + major.minor.patch, suffixes cut.

    Raises ConstraintError if there is no major.minor at the start.
    """
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not match:
        raise ConstraintError(f"{version!r} is not a Kubernetes version")
    return f"v{int(match[1])}.{int(match[2])}.{int(match[3] or 0)}"


def compatible(constraint: str, kube_version: str) -> bool:
    """Helm's check of Chart.yaml kubeVersion against the target Kubernetes version.

    Raises ConstraintError for a constraint or version Helm cannot parse (Helm then
    reports the chart as incompatible).
    """
    return satisfies(normalize_kube_version(kube_version), constraint)
