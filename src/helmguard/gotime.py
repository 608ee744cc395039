"""Go's time.Time.Format for the times Helm records (RFC 3339, nanoseconds, an offset).

`helm list --time-format LAYOUT` prints each release's time with Go's layout language
(the reference time Mon Jan 2 15:04:05 MST 2006); `format_time` reads a layout the way
Go's time/format.go nextStdChunk does and prints the same text.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

# Go's time.Time.String() layout (what `helm list` prints without --time-format).
STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|([+-])(\d\d):(\d\d))"
)
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Longest first where one is a prefix of another, as nextStdChunk tries them.
_ZONES = ("Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07")
_OFFSETS = ("-070000", "-07:00:00", "-0700", "-07:00", "-07")
_ZERO_PREFIXED = {"1": "01", "2": "02", "3": "03", "4": "04", "5": "05", "6": "06"}


@dataclass(frozen=True)
class _Time:
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanos: int
    offset: int  # seconds east of UTC
    utc: bool  # written with "Z": Go names the zone UTC

    @property
    def weekday(self) -> int:
        return datetime.date(self.year, self.month, self.day).weekday()

    @property
    def yearday(self) -> int:
        return datetime.date(self.year, self.month, self.day).timetuple().tm_yday


def _parse(value: str) -> _Time | None:
    match = _RFC3339.fullmatch(value or "")
    if match is None:
        return None
    y, mo, d, h, mi, s, frac, zone, sign, zh, zm = match.groups()
    offset = 0 if zone == "Z" else (int(zh) * 3600 + int(zm) * 60) * (-1 if sign == "-" else 1)
    nanos = int((frac or "").ljust(9, "0"))
    return _Time(int(y), int(mo), int(d), int(h), int(mi), int(s), nanos, offset, zone == "Z")


def format_time(value: str, layout: str) -> str:
    """A record's RFC 3339 time printed as Go's `t.Format(layout)`; "-" (helm list's word)
    for Go's zero time or a time that does not read."""
    when = _parse(value)
    if when is None or value.startswith("0001-01-01"):
        return "-"
    out: list[str] = []
    i = 0
    while i < len(layout):
        text, width = _chunk(when, layout, i)
        out.append(text)
        i += width
    return "".join(out)


def _chunk(t: _Time, layout: str, i: int) -> tuple[str, int]:
    """The text for the layout element starting at `i`, and its width in the layout."""
    rest = layout[i:]
    ch = rest[0]
    if rest.startswith("January"):
        return _MONTHS[t.month - 1], 7
    if rest.startswith("Jan"):
        return _MONTHS[t.month - 1][:3], 3
    if rest.startswith("Monday"):
        return _DAYS[t.weekday], 6
    if rest.startswith("Mon"):
        return _DAYS[t.weekday][:3], 3
    if rest.startswith("MST"):
        return _zone_name(t), 3
    if rest.startswith("002"):
        return f"{t.yearday:03}", 3
    if ch == "0" and len(rest) > 1 and rest[1] in _ZERO_PREFIXED:
        return _numeric(t, rest[1], zero=True), 2
    if rest.startswith("15"):
        return f"{t.hour}", 2
    if rest.startswith("2006"):
        return f"{t.year:04}", 4
    if rest.startswith("__2"):
        return f"{t.yearday:>3}", 3
    if rest.startswith("_2006"):
        return "_", 1  # a literal "_", then the year
    if rest.startswith("_2"):
        return f"{t.day:>2}", 2
    if ch in "12345":
        return _numeric(t, ch, zero=False), 1
    if rest.startswith("PM"):
        return ("PM" if t.hour >= 12 else "AM"), 2
    if rest.startswith("pm"):
        return ("pm" if t.hour >= 12 else "am"), 2
    for zone in _ZONES:
        if rest.startswith(zone):
            return ("Z" if t.offset == 0 else _offset(t.offset, zone[1:])), len(zone)
    for zone in _OFFSETS:
        if rest.startswith(zone):
            return _offset(t.offset, zone), len(zone)
    if ch in ".," and len(rest) > 1 and rest[1] in "09":
        digits = len(rest) - len(rest[1:].lstrip(rest[1])) - 1
        if not rest[1 + digits : 2 + digits].isdigit():
            return _fraction(t.nanos, ch, digits, trim=rest[1] == "9"), 1 + digits
    return ch, 1


def _numeric(t: _Time, element: str, *, zero: bool) -> str:
    """Go's 1 (month), 2 (day), 3 (12-hour), 4 (minute), 5 (second), 06 (two-digit year)."""
    value = {
        "1": t.month,
        "2": t.day,
        "3": t.hour % 12 or 12,
        "4": t.minute,
        "5": t.second,
        "6": t.year % 100,
    }[element]
    return f"{value:02}" if zero else str(value)


def _zone_name(t: _Time) -> str:
    """MST: a time written with "Z" is in UTC; one written with an offset has no zone name
    in Go (unless it is the reader's local zone), so Go prints the offset as -0700."""
    return "UTC" if t.utc else _offset(t.offset, "-0700")


def _offset(offset: int, form: str) -> str:
    """The offset as `form` (-07, -0700, -07:00, -070000, -07:00:00) writes it."""
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02}"
    if form in ("-0700", "-070000"):
        text += f"{minutes:02}"
    elif form in ("-07:00", "-07:00:00"):
        text += f":{minutes:02}"
    if form == "-070000":
        text += f"{seconds:02}"
    elif form == "-07:00:00":
        text += f":{seconds:02}"
    return text


def _fraction(nanos: int, separator: str, digits: int, *, trim: bool) -> str:
    """.000 (fixed digits) or .999 (trailing zeros trimmed, nothing at all for zero)."""
    text = f"{nanos:09}"[:digits]
    if trim:
        text = text.rstrip("0")
        return f"{separator}{text}" if text else ""
    return f"{separator}{text}"
