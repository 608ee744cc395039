"""Go durations on the command line (`300s`, `5m`, `1h2m`, `1.5h`), as Helm's flags take them.

`parse_duration` follows Go's time.ParseDuration; a plain number is still read as seconds
(helmguard's flags took seconds before they took durations).
"""

from __future__ import annotations

import re
from typing import Any

import click

# Go's time.ParseDuration units, in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TERM = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")
_PLAIN = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_MAX_NANOS = (1 << 63) - 1


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (or a plain number of seconds); ValueError if invalid.

    Negative durations are refused: every helmguard timeout is a budget.
    """
    value = text.strip()
    if _PLAIN.fullmatch(value):
        return float(value)
    original = value
    if value and value[0] in "+-":
        if value[0] == "-" and value[1:] not in ("0", ""):
            raise ValueError(f"invalid duration {original!r}: must not be negative")
        value = value[1:]
    if value == "0":
        return 0.0
    if not value:
        raise ValueError(f"invalid duration {original!r}")
    nanos = 0
    pos = 0
    while pos < len(value):
        match = _TERM.match(value, pos)
        assert match is not None  # the pattern matches the empty string
        whole, frac, unit = match.groups()
        if not whole and not frac:
            raise ValueError(f"invalid duration {original!r}")
        if unit not in _UNITS:
            what = f"unknown unit {unit!r}" if unit else "missing unit"
            raise ValueError(f"invalid duration {original!r}: {what} (use ns, us, ms, s, m, h)")
        scale = _UNITS[unit]
        nanos += int(whole or 0) * scale
        if frac:
            # Go's float arithmetic, so fractions of hours round as Go rounds them.
            nanos += int(float(int(frac)) * (scale / float(10 ** len(frac))))
        if nanos > _MAX_NANOS:
            raise ValueError(f"invalid duration {original!r}: out of range")
        pos = match.end()
    return nanos / 1e9


class Duration(click.ParamType[float, Any]):
    """A click parameter holding seconds, written as a Go duration or a number of seconds."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            seconds = float(value) if isinstance(value, int | float) else parse_duration(str(value))
        except ValueError as exc:
            self.fail(f"{exc}; e.g. 300s, 5m, 1h2m, or seconds", param, ctx)
        if seconds < self.minimum:
            self.fail(f"{value!r} is shorter than the minimum of {self.minimum:g}s", param, ctx)
        return seconds


DURATION = Duration()
