"""What helm prints for its -o json and YAML outputs, byte for byte.

One file past 400 lines: a mirror of go-yaml v2's encoder and emitter (encode.go,
sorter.go, emitterc.go) and of encoding/json's numbers, kept together to read against Go.

helm holds a release's values as Go decodes them from the stored JSON (every number a
float64) and prints them with encoding/json (`-o json`) or sigs.k8s.io/yaml's Marshal
(`-o yaml`, and the values of `get values`/`get all`): json.Marshal, go-yaml v2 reading
that JSON back (integers as int, the rest float64), then go-yaml v2's encoder and emitter.

`go_json` is encoding/json's compact, HTML-safe output; `dump` is that YAML: map keys in
go-yaml's order (its "natural" sort: digit runs compared as numbers), block style with
sequences level with their key, `{}`/`[]` for empty ones, 2-space indent, and each
string in the style go-yaml's encoder asks for (literal `|` if it holds a newline, plain
unless it would read back as another type, else double-quoted) as the libyaml emitter then
allows it (single-quoted where plain is not allowed), lines folded past column 80.
Callers order maps for JSON (`sort_maps`); YAML sorts them itself.

Not mirrored: a string holding DEL or a C1 control (go-yaml refuses to read the JSON
back, so helm fails) or NEL (go-yaml folds it, reading the JSON); they are written escaped.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

from helmguard.goyaml import plain_is_string

__all__ = ["dump", "go_json", "sort_maps"]

# go-yaml v2 encode.go isBase60Float: 1:20, -1:20:30.5 (YAML 1.1 sexagesimal) are quoted.
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
# What Go's json.Encoder escapes beyond Python's json.dumps(ensure_ascii=False) (HTML-safe).
_GO_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_WIDTH = 80  # the emitter's best_width: go-yaml v2 without FutureLineWrap
_INDENT = 2
_SIMPLE_KEY_BYTES = 128
_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPES = {
    "\0": "0",
    "\a": "a",
    "\b": "b",
    "\t": "t",
    "\n": "n",
    "\v": "v",
    "\f": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}
_INT_RANGE = (-(2**63), 2**64 - 1)  # what go-yaml reads as int64 or uint64


def sort_maps(value: Any) -> Any:
    """`value` with every map's keys in encoding/json's order (byte-wise, as UTF-8)."""
    if isinstance(value, dict):
        return {k: sort_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_maps(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """encoding/json's Encoder output for a decoded JSON value (numbers as float64), maps in
    the order they hold, without the Encoder's closing newline."""
    if isinstance(value, dict):
        items = (f"{_json_string(str(k))}:{go_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, str):
        return _json_string(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _json_number(float(value))


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_GO_JSON_ESCAPES)


def _digits(value: float) -> tuple[str, str, int]:
    """The sign, shortest round-trip digits and decimal point position of a finite float."""
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exp, int)
    figures = "".join(map(str, digits))
    return "-" if sign else "", figures, len(figures) + exp


def _fixed(sign: str, figures: str, point: int) -> str:
    if point <= 0:
        return f"{sign}0.{'0' * -point}{figures}"
    if point >= len(figures):
        return sign + figures + "0" * (point - len(figures))
    return f"{sign}{figures[:point]}.{figures[point:]}"


def _exponent(sign: str, figures: str, point: int) -> str:
    rest = f".{figures[1:]}" if len(figures) > 1 else ""
    exp = point - 1
    return f"{sign}{figures[0]}{rest}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _json_number(value: float) -> str:
    """A float64 as encoding/json writes it ('f' from 1e-6 to 1e21, else 'e' as e-7)."""
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    parts = _digits(value)
    if 1e-6 <= abs(value) < 1e21:
        return _fixed(*parts)
    return re.sub(r"e-0(\d)$", r"e-\1", _exponent(*parts))


def _yaml_number(value: float) -> str:
    """The JSON number as go-yaml v2 reads it back (int64, uint64, else float64) and writes
    it (floats with strconv's 'g', shortest)."""
    text = _json_number(value)
    if re.fullmatch(r"-?[0-9]+", text) and _INT_RANGE[0] <= int(text) <= _INT_RANGE[1]:
        return "0" if text == "-0" else text
    parts = _digits(value)
    if -4 <= parts[2] - 1 < 6:
        return _fixed(*parts)
    return _exponent(*parts)


def _go_key_less(a: str, b: str) -> bool:
    """go-yaml v2 sorter.go keyList.Less for two string keys."""
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            continue
        al, bl = _is_letter(a[i]), _is_letter(b[i])
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai, an = _digit_run(a, i, an)
        bi, bn = _digit_run(b, i, bn)
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return a[i] < b[i]
    return len(a) < len(b)


def _is_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L")  # Go's unicode.IsLetter


def _digit_run(text: str, start: int, number: int) -> tuple[int, int]:
    end = start
    while end < len(text) and unicodedata.category(text[end]) == "Nd":
        number = number * 10 + (ord(text[end]) - ord("0"))
        end += 1
    return end, number


def _go_compare(a: str, b: str) -> int:
    return -1 if _go_key_less(a, b) else 1


def _go_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=cmp_to_key(_go_compare))


def _printable(char: str) -> bool:
    """libyaml's is_printable (four-byte UTF-8, NEL and C1 controls are not)."""
    c = ord(char)
    return (
        c == 0x0A
        or 0x20 <= c <= 0x7E
        or 0xA0 <= c <= 0xD7FF
        or (0xE000 <= c <= 0xFFFD and c != 0xFEFF)
    )


class _Analysis:
    """yaml_emitter_analyze_scalar: which styles the emitter allows for a scalar."""

    def __init__(self, value: str) -> None:
        self.multiline = False
        self.block_plain = self.single = True
        self.block = bool(value)
        if not value:
            return
        block_indicators = value.startswith(("---", "..."))
        special = leading = trailing_space = trailing_break = break_space = space_break = False
        previous_space = previous_break = False
        preceded_by_ws = True
        for i, char in enumerate(value):
            followed_by_ws = i + 1 >= len(value) or value[i + 1] in " \t"
            if i == 0:
                if char in "#,[]{}&*!|>'\"%@`" or (char in "?:-" and followed_by_ws):
                    block_indicators = True
            elif (char == ":" and followed_by_ws) or (char == "#" and preceded_by_ws):
                block_indicators = True
            if not _printable(char):
                special = True
            last = i + 1 == len(value)
            if char == " ":
                leading = leading or i == 0
                trailing_space = trailing_space or last
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif char in _BREAKS:
                self.multiline = True
                leading = leading or i == 0
                trailing_break = trailing_break or last
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = char in " \t\0" or char in _BREAKS
        if leading or trailing_space or trailing_break or self.multiline or block_indicators:
            self.block_plain = False
        if trailing_space:
            self.block = False
        if break_space:
            self.block_plain = self.single = False
        if space_break or special:
            self.block_plain = self.single = self.block = False


class _Emitter:
    """The parts of go-yaml v2's emitterc.go a block-style document of JSON values uses."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.column = 0
        self.indent = -1
        self.indents: list[int] = []
        self.whitespace = self.indention = True

    # -- writing ---------------------------------------------------------------------
    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def write_break(self, char: str) -> None:
        if char == "\n":
            self.put_break()
        else:
            self.out.append(char)
            self.column = 0

    def write_indent(self) -> None:
        indent = max(self.indent, 0)
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            self.put_break()
        self.put(" " * (indent - self.column))
        self.whitespace = self.indention = True

    def indicator(self, text: str, need_ws: bool, is_ws: bool, is_indention: bool) -> None:
        if need_ws and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = is_ws
        self.indention = self.indention and is_indention

    def increase_indent(self, flow: bool, indentless: bool) -> None:
        self.indents.append(self.indent)
        if self.indent < 0:
            self.indent = _INDENT if flow else 0
        elif not indentless:
            self.indent += _INDENT

    def pop_indent(self) -> None:
        self.indent = self.indents.pop()

    # -- nodes -----------------------------------------------------------------------
    def node(self, value: Any, *, key: bool = False, in_map: bool = False) -> None:
        if isinstance(value, dict) and value:
            self.mapping(value)
        elif isinstance(value, list | tuple) and value:
            self.sequence(value, in_map)
        elif isinstance(value, dict | list | tuple):
            self.indicator("{" if isinstance(value, dict) else "[", True, True, False)
            self.indicator("}" if isinstance(value, dict) else "]", False, False, False)
        elif isinstance(value, str):
            self.scalar(value, _string_style(value), key=key)
        elif value is None or isinstance(value, bool):
            self.scalar(json.dumps(value), "plain", key=key)
        else:
            self.scalar(_yaml_number(float(value)), "plain", key=key)

    def mapping(self, value: dict[str, Any]) -> None:
        self.increase_indent(False, False)
        for key in _go_sorted([str(k) for k in value]):
            self.write_indent()
            simple = len(key.encode()) <= _SIMPLE_KEY_BYTES and not _Analysis(key).multiline
            if simple:
                self.node(key, key=True)
                self.indicator(":", False, False, False)
            else:
                self.indicator("?", True, False, True)
                self.node(key)
                self.write_indent()
                self.indicator(":", True, False, True)
            self.node(value[key], in_map=True)
        self.pop_indent()

    def sequence(self, value: list[Any] | tuple[Any, ...], in_map: bool) -> None:
        self.increase_indent(False, in_map and not self.indention)
        for item in value:
            self.write_indent()
            self.indicator("-", True, False, True)
            self.node(item)
        self.pop_indent()

    def scalar(self, value: str, style: str, *, key: bool) -> None:
        analysis = _Analysis(value)
        if key and analysis.multiline:
            style = "double"
        if style == "plain" and (not analysis.block_plain or (not value and key)):
            style = "single"
        if style == "single" and not analysis.single:
            style = "double"
        if style == "literal" and (not analysis.block or key):
            style = "double"
        self.increase_indent(True, False)
        if style == "literal":
            self.literal(value)
        else:
            self.flow_scalar(value, style, breaks_allowed=not key)
        self.pop_indent()

    def flow_scalar(self, value: str, style: str, *, breaks_allowed: bool) -> None:
        """write_plain_scalar, write_single_quoted_scalar and write_double_quoted_scalar."""
        quote = {"plain": "", "single": "'", "double": '"'}[style]
        if quote:
            self.indicator(quote, True, False, False)
        elif not self.whitespace:
            self.put(" ")
        spaces = breaks = False
        for i, char in enumerate(value):
            if style == "double" and (
                not _printable(char) or char in _BREAKS or char in '"\\' or char == "\ufeff"
            ):
                self.put("\\" + _escape(char))
                spaces = False
            elif char == " ":
                inner = style == "plain" or 0 < i < len(value) - 1
                next_space = i + 1 < len(value) and value[i + 1] == " "
                if (
                    breaks_allowed
                    and not spaces
                    and self.column > _WIDTH
                    and inner
                    and (style == "double" or not next_space)
                ):
                    self.write_indent()
                    if style == "double" and next_space:
                        self.put("\\")
                else:
                    self.put(char)
                spaces = True
            elif char in _BREAKS:  # only plain and single-quoted get here
                if not breaks and char == "\n":
                    self.put_break()
                self.write_break(char)
                self.indention = breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put("''" if char == "'" and style == "single" else char)
                self.indention = spaces = breaks = False
        if quote:
            self.indicator(quote, False, False, False)
        self.whitespace = self.indention = False

    def literal(self, value: str) -> None:
        self.indicator("|", True, False, False)
        if value[0] == " " or value[0] in _BREAKS:
            self.indicator(str(_INDENT), False, False, False)
        chomp = ""
        if value[-1] not in _BREAKS:
            chomp = "-"
        elif len(value) == 1 or value[-2] in _BREAKS:
            chomp = "+"
        if chomp:
            self.indicator(chomp, False, False, False)
        self.put_break()
        self.indention = self.whitespace = breaks = True
        for char in value:
            if char in _BREAKS:
                self.write_break(char)
                self.indention = breaks = True
            else:
                if breaks:
                    self.write_indent()
                self.put(char)
                self.indention = breaks = False

    def document(self, value: Any) -> str:
        self.node(value)
        self.write_indent()  # the implicit document end
        return "".join(self.out)


def _string_style(text: str) -> str:
    """go-yaml v2 encode.go stringv: the style it asks the emitter for."""
    if "\n" in text:
        return "literal"
    if plain_is_string(text) and not _BASE60_FLOAT.fullmatch(text):
        return "plain"
    return "double"


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    c = ord(char)
    if c <= 0xFF:
        return f"x{c:02X}"
    return f"u{c:04X}" if c <= 0xFFFF else f"U{c:08X}"


def dump(value: Any) -> str:
    """sigs.k8s.io/yaml's Marshal of a decoded JSON value, as helm prints it."""
    return _Emitter().document(value)
