"""The one YAML reader: what Helm and the API server make of a YAML document.

One file past 400 lines: a mirror of go-yaml v2's resolve and decode, kept together so it
reads against the Go source.

Both read YAML with sigs.k8s.io/yaml: go-yaml v2 decodes into Go values, which are then
converted to JSON. This module mirrors that pipeline deliberately (go-yaml v2 resolve.go
and decode.go, sigs.k8s.io/yaml's convertToJSONableObject, encoding/json), so a value
here is the JSON value the API server would receive:

- YAML 1.1 booleans including y/n/yes/no/on/off; null, ~ and the empty plain scalar.
- Go's number rules: `strconv.ParseInt(s, 0, 64)` after removing `_` (0x, 0o, 0b, and a
  leading 0 for octal: 0o644 and 0644 are 420), then ParseUint, then a float when the text
  looks like one (08, 1e3, +.5); no sexagesimal (22:00 stays text).
- Timestamps stay text; `=` and quoted or non-merge `<<` are plain strings.
- Merge keys `<<` applied where they stand (later keys win, earlier merged ones lose).
- Unknown tags are ignored (the text is kept); `!!binary` is base64-decoded; explicit
  core tags (`!!int "3"`) are checked the way go-yaml checks them.
- Non-string keys stringified as sigs.k8s.io/yaml does (9000 -> "9000", true -> "true",
  floats with 32-bit %g); null keys, .inf/.nan values, excessive aliasing (the go-yaml v2
  ratio rule), recursive anchors and invalid UTF-8 (go-yaml's reader messages) rejected.
- go-yaml's nesting limits: 10000 flow levels and 10000 block indentation levels.
- Tags scanned as go-yaml scans them: `[`, `]` and `,` belong to a tag, and the
  non-specific tag `!` makes a scalar a string (`! 3` is "3").
- Floats Go's encoding/json prints without a fraction (1e3 -> 1000) come back as ints,
  as the API server reads them.

Composition (scanning, parsing, anchors) is libyaml's C parser from PyYAML; resolution
and decoding are Go's, in `_Decoder`. libyaml's own nesting limit (flow and block levels
counted together, 1000 by default) is raised process-wide to 20016, so go-yaml's limits
decide; within them, a document nested more than 10000 levels in all is refused as
encoding/json refuses its JSON (every reader decodes it: Helm, the resource builder, the
API server). Invalid UTF-8 is refused where go-yaml's reader
meets it: in the 512-byte buffers it decodes until the first document has ended.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import ctypes
import math
import re
import struct
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml
from yaml import _yaml
from yaml._yaml import CParser
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode

__all__ = ["YAMLError", "load"]

_TAG = "tag:yaml.org,2002:"
_STR, _BOOL, _INT, _FLOAT = f"{_TAG}str", f"{_TAG}bool", f"{_TAG}int", f"{_TAG}float"
_NULL, _TIMESTAMP, _BINARY, _MERGE = (
    f"{_TAG}null",
    f"{_TAG}timestamp",
    f"{_TAG}binary",
    f"{_TAG}merge",
)
# What the resolver hands back for an untagged plain scalar: Go resolves it at decode time.
_PLAIN = "helmguard:plain"
_RESOLVABLE = frozenset({_PLAIN, _STR, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP})

# go-yaml v2 resolveTable: the first character decides which rules are tried.
_HINT = {
    **dict.fromkeys("+-", "S"),
    **dict.fromkeys("0123456789", "D"),
    **dict.fromkeys("yYnNtTfFoO~", "M"),
    ".": ".",
}
_RESOLVE_MAP: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), (_BOOL, True)),
    **dict.fromkeys(("on", "On", "ON"), (_BOOL, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), (_BOOL, False)),
    **dict.fromkeys(("off", "Off", "OFF"), (_BOOL, False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (_NULL, None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (_FLOAT, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (_FLOAT, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (_FLOAT, -math.inf)),
    "<<": (_MERGE, "<<"),
}
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# strconv.ParseFloat on a scalar that starts with "." (the ".inf" forms are in the map).
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
# go-yaml v2 parseTimestamp: its four layouts, time.Parse-checked below.
_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?"
)
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_MAX = (1 << 64) - 1
_FLOAT32_MAX = 3.4028234663852886e38

# go-yaml v2 scannerc.go max_flow_level and max_indents.
_GO_MAX_DEPTH = 10_000
_DEPTH_PROBLEM = f"exceeded max depth of {_GO_MAX_DEPTH}"
# libyaml counts flow and block levels together: room for both of go-yaml's counts.
_LIBYAML_MAX_DEPTH = 2 * _GO_MAX_DEPTH + 16
# Python frames per nesting level (composer, decoder, alias expansion), with room.
_DEEP_RECURSION = 6 * _LIBYAML_MAX_DEPTH
_DEEP = threading.Lock()
# encoding/json's nesting limit, met when the converted document is decoded (by Helm, the
# resource builder, the API server): deeper than this is refused even within go-yaml's.
_JSON_MAX_DEPTH = 10_000
_JSON_DEPTH_PROBLEM = "invalid character '{}' exceeded max depth"
# A tag libyaml ends early: at `[`, `]` or `,`, which go-yaml v2 keeps in a tag; or the
# non-specific tag `!` alone.
_TAG_CANDIDATE = re.compile(r"(?:^|[ \t\[{,])!(?:\s|$|\S*[\[\],])", re.MULTILINE)
# go-yaml v2 yaml_parser_scan_tag_uri: the characters of a tag after its `!`.
_GO_TAG_CHARS = re.compile(r"[0-9A-Za-z_\-;/?:@&=+$,.!~*'()\[\]%]*")

# go-yaml v2 decoder: the alias expansion it allows before "excessive aliasing".
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    """encoding/json's treatment of invalid UTF-8: one U+FFFD per invalid byte."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd", error.start + 1


codecs.register_error("helmguard-go-replace", _go_replace)


def _raise_libyaml_depth() -> None:
    """Let go-yaml's depth limits decide, not libyaml's default of 1000 (libyaml >= 0.2.5)."""
    setter = getattr(ctypes.CDLL(_yaml.__file__), "yaml_set_max_nest_level", None)
    if setter is not None:
        setter(ctypes.c_int(_LIBYAML_MAX_DEPTH))


_raise_libyaml_depth()


class YAMLError(ValueError):
    """YAML that Helm would refuse; `line` is 1-based within the parsed text, if known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.problem = problem
        self.line = line


class _Parser(CParser):
    """libyaml's parser and composer, with resolution deferred to `_Decoder`."""

    def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str:
        if kind is not ScalarNode:
            return ""  # a collection's tag changes nothing in go-yaml's decoding
        return _PLAIN if implicit[0] else _STR

    def descend_resolver(self, parent: Node | None, index: object) -> None:
        """Path-based resolvers are not used."""

    def ascend_resolver(self) -> None:
        """Path-based resolvers are not used."""


def load(source: str | bytes) -> Any:
    """The first YAML document of `source` as sigs.k8s.io/yaml's YAMLToJSON reads it.

    Returns None for an empty document. Raises YAMLError with go-yaml's problem and the
    line for anything Helm would refuse.
    """
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            if _go_decodes(source, exc.start):
                line = source.count(b"\n", 0, exc.start) + 1
                raise YAMLError(_utf8_problem(source, exc.start), line) from None
            text = source[: exc.start].decode("utf-8")  # the first document, and then some
    else:
        text = source
    deep = _may_nest_deeper(text, _JSON_MAX_DEPTH)
    if deep:
        _check_go_depth(text)
    value = _load_deep(text)
    if deep:
        _check_json_depth(value)
    return value


def _load_deep(text: str) -> Any:
    try:
        return _load(text)
    except RecursionError:
        pass
    except UnicodeEncodeError as exc:
        # A lone surrogate: text decoded with surrogateescape, or Go's JSON of bytes that
        # are not UTF-8 (see chart.render).
        line = text.count("\n", 0, exc.start) + 1
        raise YAMLError("invalid UTF-8 (bytes that are not UTF-8 text)", line) from None
    # Composing and decoding a deep document needs more Python frames than the default.
    with _DEEP:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _DEEP_RECURSION))
        try:
            return _load(text)
        finally:
            sys.setrecursionlimit(limit)


def _may_nest_deeper(text: str, levels: int) -> bool:
    """Whether `text` can hold a document nested more than `levels` deep.

    Along any path, each flow level has its own `[` or `{`, and each block level but the
    first two starts a column further right (an indentless sequence shares its mapping's
    column, and its `- ` then takes two): the line of the deepest node starts with at
    least that many spaces and indicators.
    """
    if len(text) <= levels:
        return False
    brackets = text.count("[") + text.count("{")
    if brackets + 2 > levels:
        return True
    return re.search(rf"^[ ?:-]{{{levels - 2 - brackets}}}", text, re.MULTILINE) is not None


def _check_json_depth(value: Any) -> None:
    """encoding/json's refusal of the converted document nested too deep (keys in its order)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = [node[key] for key in sorted(node, reverse=True)]
        elif isinstance(node, list):
            children = node[::-1]
        else:
            continue
        if depth > _JSON_MAX_DEPTH:
            raise YAMLError(_JSON_DEPTH_PROBLEM.format("{" if isinstance(node, dict) else "["))
        stack.extend((child, depth + 1) for child in children)


def _json_depth_opener(text: str) -> str:
    """`[` or `{`: the first collection nested past encoding/json's limit, in document order."""
    depth = 0
    parser = _Parser(text)
    try:
        for event in iter(parser.get_event, None):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > _JSON_MAX_DEPTH:
                    return "{" if isinstance(event, yaml.MappingStartEvent) else "["
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    finally:
        parser.dispose()
    return "["


def _load(text: str) -> Any:
    text, empty_tagged = _go_tags(text)
    node, text = _compose(text)
    if node is None:
        return None
    if empty_tagged:
        _mark_strings(node, empty_tagged)
    if "\\/" in text or ("?" in text and ("[" in text or "{" in text)):
        _reject_what_go_rejects(text)
    return _Decoder(track_aliases="&" in text).value(node)


def _utf8_problem(data: bytes, at: int) -> str:
    """go-yaml v2 readerc.go's complaint about the byte sequence starting at `at`."""
    octet = data[at]
    width = next((w for mask, lead, w in _UTF8_LEADS if octet & mask == lead), 0)
    if not width:
        return "invalid leading UTF-8 octet"
    if at + width > len(data):
        return "incomplete UTF-8 octet sequence"
    value = octet & (0x7F >> width)
    for trailing in data[at + 1 : at + width]:
        if trailing & 0xC0 != 0x80:
            return "invalid trailing UTF-8 octet"
        value = (value << 6) + (trailing & 0x3F)
    if value < (0x80, 0x800, 0x10000)[width - 2]:
        return "invalid length of a UTF-8 sequence"
    return "invalid Unicode character"  # a surrogate or beyond U+10FFFF


_UTF8_LEADS = ((0xE0, 0xC0, 2), (0xF0, 0xE0, 3), (0xF8, 0xF0, 4))
# go-yaml v2 readerc.go: the input is decoded (and its UTF-8 checked) as the scanner needs
# characters, a raw buffer of this many bytes at a time.
_GO_RAW_BUFFER = 512
# go-yaml's scanner looks this many characters ahead at each token (`--- ` and `... `).
_GO_LOOKAHEAD = 4


def _go_decodes(data: bytes, at: int) -> bool:
    """Whether go-yaml decodes the byte at `at` (the first that is not UTF-8) before it has
    read the first document, the only one it reads.

    Its scanner ends the first document at the next `---` or `...`, having asked for the
    4 characters there; the reader decodes whole 512-byte buffers until it holds that many
    characters (a sequence cut by a buffer's end is completed from the next one), so any
    invalid byte in those buffers is refused and none after them is seen.
    """
    end = _first_document_end(data[:at].decode("utf-8"))
    if end is None:
        return True
    needed = end + _GO_LOOKAHEAD
    bom = data.startswith(codecs.BOM_UTF8)
    pos, chars = (3 if bom else 0), 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    while chars < needed:
        # The first buffer holds the BOM that was skipped.
        buffer_end = min((_GO_RAW_BUFFER if bom and pos == 3 else pos + _GO_RAW_BUFFER), len(data))
        if at < buffer_end:
            octet = data[at]
            width = next((w for mask, lead, w in _UTF8_LEADS if octet & mask == lead), 0)
            if not width or at + width <= buffer_end:
                return True
            # Cut by the buffer's end: decoded with the next buffer, if one is read (at the
            # end of the input: "incomplete UTF-8 octet sequence", if more is needed).
            chars += len(data[pos:at].decode("utf-8"))
            pos = at
            if at + width > len(data):
                return chars < needed
            continue
        chars += len(decoder.decode(data[pos:buffer_end]))
        pos = buffer_end - len(decoder.getstate()[0])
        decoder.reset()
    return False


def _first_document_end(text: str) -> int | None:
    """Where the `---` or `...` that ends the first document starts, if `text` has one."""
    started = False
    parser = _Parser(text)
    try:
        for token in iter(parser.get_token, None):
            kind = token.__class__
            if kind in (yaml.DocumentStartToken, yaml.DocumentEndToken) and started:
                return int(token.start_mark.index)
            # A `...` before any content is skipped; a first `---` starts the document.
            started = started or kind not in (
                yaml.StreamStartToken,
                yaml.DirectiveToken,
                yaml.DocumentEndToken,
            )
    except yaml.YAMLError:
        return None  # go-yaml reads up to its error, or further: the reading decides
    finally:
        parser.dispose()
    return None


def _check_go_depth(text: str) -> None:
    """go-yaml's scanner limits on the first document: flow levels and block indents."""
    flow = indents = 0
    started = False  # the first document's content (or its `---`) was seen
    parser = _Parser(text)
    try:
        for token in iter(parser.get_token, None):
            kind = token.__class__
            if kind in (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken):
                flow += 1
                if flow > _GO_MAX_DEPTH:
                    raise YAMLError(_DEPTH_PROBLEM, token.start_mark.line + 1)
            elif kind in (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken):
                flow -= 1
            elif kind in (yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken):
                indents += 1
                if indents > _GO_MAX_DEPTH:
                    raise YAMLError(_DEPTH_PROBLEM, token.start_mark.line + 1)
            elif kind is yaml.BlockEndToken:
                indents -= 1
            elif kind is yaml.DocumentEndToken or (kind is yaml.DocumentStartToken and started):
                return  # go-yaml reads the first document only
            started = started or kind is not yaml.StreamStartToken
    except yaml.YAMLError:
        return  # composing reports it
    finally:
        parser.dispose()


def _go_tags(text: str) -> tuple[str, frozenset[int]]:
    """The text with tags libyaml would end early made readable, and the empty-tagged.

    go-yaml v2 keeps `[`, `]` and `,` in a tag (`!a[b]`, `!x,y`) where libyaml ends it;
    those characters are replaced in place (an unknown tag's name changes nothing in
    decoding; lengths are kept, so lines stay). Returns with it where the scalars
    tagged with the non-specific `!` end, which go-yaml decodes as strings.
    """
    if "!" not in text or not _TAG_CANDIDATE.search(text):
        return text, frozenset()
    empty: set[int] = set()
    for _ in range(text.count("!") + 1):
        parser = _Parser(text)
        retagged = None
        try:
            empty_tag = False
            for token in iter(parser.get_token, None):
                kind = token.__class__
                if isinstance(token, yaml.TagToken):
                    start = token.start_mark.index
                    empty_tag = token.value == (None, "!")
                    if not empty_tag and text[start + 1 : start + 2] != "<":
                        retagged = _retag(text, start, token.end_mark.index)
                        if retagged is not None:
                            break
                elif empty_tag and kind is not yaml.AnchorToken:
                    if kind is yaml.ScalarToken:
                        empty.add(token.end_mark.index)
                    empty_tag = False
        except yaml.MarkedYAMLError as exc:
            if exc.context == "while scanning a tag" and exc.context_mark and exc.problem_mark:
                retagged = _retag(text, exc.context_mark.index, exc.problem_mark.index)
        finally:
            parser.dispose()
        if retagged is None:
            break
        text = retagged
    return text, frozenset(empty)


def _retag(text: str, start: int, libyaml_end: int) -> str | None:
    """The text with the go-yaml tag at `start` made libyaml's, if libyaml ended it early."""
    match = _GO_TAG_CHARS.match(text, start + 1)
    end = match.end() if match else start + 1
    if end <= libyaml_end:
        return None
    tag = text[start:end].replace("[", "_").replace("]", "_").replace(",", "_")
    return text[:start] + tag + text[end:]


def _mark_strings(root: Node, scalar_ends: frozenset[int]) -> None:
    """Tag the scalars ending at `scalar_ends` (the empty-tagged ones) as strings."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if node.end_mark.index in scalar_ends:
                node.tag = _STR
        elif isinstance(node, MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, CollectionNode):
            stack.extend(node.value)


def _compose(text: str) -> tuple[Node | None, str]:
    """libyaml's node graph of the first document, made to accept what go-yaml accepts.

    Two go-yaml leniencies libyaml lacks are applied to the text first and retried: the
    escape `\\'` in double-quoted scalars, and an anchor name defined again (go-yaml's
    later definition wins, libyaml refuses the document). Returns the text parsed.
    """
    for _ in range(text.count("\\'") + 2):
        parser = _Parser(text)
        try:
            return (parser.get_node() if parser.check_node() else None), text
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            at = mark.index if mark is not None else -1
            if exc.problem == "found unknown escape character" and text[at : at + 2] == "\\'":
                text = text[:at] + "'" + text[at + 2 :]
                continue
            if exc.problem == "found duplicate anchor; first occurrence" or (
                exc.context == "found duplicate anchor; first occurrence"
            ):
                renamed = _rename_duplicate_anchors(text)
                if renamed != text:
                    text = renamed
                    continue
            line = mark.line + 1 if mark is not None else None
            problem = exc.problem or exc.context or str(exc)
            if problem == "exceeded maximum nesting depth":
                # libyaml's limit, past go-yaml's two (checked first): the JSON is too deep.
                problem, line = _JSON_DEPTH_PROBLEM.format(_json_depth_opener(text)), None
            raise YAMLError(problem, line) from None
        except yaml.YAMLError as exc:
            raise YAMLError(str(exc)) from None
        finally:
            parser.dispose()
    raise YAMLError("cannot parse the document")


def _rename_duplicate_anchors(text: str) -> str:
    """Give each redefinition of an anchor a name of its own, and its later aliases too."""
    current: dict[str, str] = {}
    edits: list[tuple[int, int, str]] = []
    parser = _Parser(text)
    try:
        for token in iter(parser.get_token, None):
            if isinstance(token, yaml.AnchorToken):
                name = token.value
                renamed = f"{name}__helmguard{len(edits)}" if name in current else name
                current[name] = renamed
                if renamed != name:
                    edits.append((token.start_mark.index, token.end_mark.index, f"&{renamed}"))
            elif isinstance(token, yaml.AliasToken) and current.get(token.value, token.value) != (
                token.value
            ):
                edits.append(
                    (token.start_mark.index, token.end_mark.index, f"*{current[token.value]}")
                )
    except yaml.YAMLError:
        return text
    finally:
        parser.dispose()
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return text


def _reject_what_go_rejects(text: str) -> None:
    """Two things libyaml 0.2 accepts and go-yaml v2 (an older libyaml) refuses.

    The escape `\\/` in double-quoted scalars, and `?` inside a plain scalar in a flow
    collection (`{url: http://x?y=1}`), where go-yaml ends the scalar at the `?`.
    """
    parser = _Parser(text)
    flow: list[str] = []
    try:
        for token in iter(parser.get_token, None):
            kind = token.__class__
            if kind in (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken):
                flow.append("]" if kind is yaml.FlowSequenceStartToken else "}")
            elif kind in (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken) and flow:
                flow.pop()
            elif not isinstance(token, yaml.ScalarToken):
                continue
            elif token.style == '"':
                raw = text[token.start_mark.index : token.end_mark.index]
                if re.search(r"(?<!\\)(?:\\\\)*\\/", raw):
                    raise YAMLError("found unknown escape character", token.start_mark.line + 1)
            elif flow and not token.style and "?" in token.value:
                raise YAMLError(
                    f"did not find expected ',' or '{flow[-1]}'", token.start_mark.line + 1
                )
    except yaml.YAMLError:
        return  # past the first document: go-yaml does not read that far
    finally:
        parser.dispose()


def _go_int(text: str, *, signed: bool, base: int = 0) -> int | None:
    """strconv.ParseInt(text, base, 64) / ParseUint(text, base, 64), or None where Go errs."""
    sign = 1
    body = text
    if signed and body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if base == 0:
        base = 10
        prefix = body[:2].lower()
        if prefix in ("0x", "0o", "0b"):
            base = {"0x": 16, "0o": 8, "0b": 2}[prefix]
            body = body[2:]
        elif len(body) > 1 and body[0] == "0":
            base = 8
            body = body[1:]
    # 64 digits is beyond any 64-bit value in any base (and below Python's int-size limit).
    if not body or len(body.lstrip("0")) > 64 or any(c not in _DIGITS[base] for c in body):
        return None
    value = sign * int(body, base)
    if signed:
        return value if _INT64[0] <= value <= _INT64[1] else None
    return value if value <= _UINT64_MAX else None


def _go_float(text: str) -> float | None:
    """strconv.ParseFloat on text already known to be decimal: None on overflow."""
    value = float(text)
    return None if math.isinf(value) else value


def _is_timestamp(text: str) -> bool:
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return False
    clock = match.group(4, 5, 6) if match[4] is not None else match.group(7, 8, 9)
    if clock[0] is None:
        return True
    hour, minute, second = (int(c) for c in clock)
    return hour < 24 and minute < 60 and second < 60


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _resolve(tag: str, text: str) -> tuple[str, Any]:
    """go-yaml v2 resolve(): the tag and Go value of a scalar (tag "" is _PLAIN here)."""
    hint = _HINT.get(text[0]) if text else "N"
    if hint is not None and tag != _STR:
        found = _RESOLVE_MAP.get(text)
        if found is not None:
            return found
        if hint == ".":
            if _DOT_FLOAT.fullmatch(text):
                number = _go_float(text)
                if number is not None:
                    return _FLOAT, number
        elif hint in ("D", "S"):
            if tag in (_PLAIN, _TIMESTAMP) and _is_timestamp(text):
                return _TIMESTAMP, text  # decoded into interface{}, go-yaml keeps the text
            plain = text.replace("_", "")
            integer = _go_int(plain, signed=True)
            if integer is None:
                integer = _go_int(plain, signed=False)
            if integer is not None:
                return _INT, integer
            if _YAML_STYLE_FLOAT.fullmatch(plain):
                number = _go_float(plain)
                if number is not None:
                    return _FLOAT, number
            if plain.startswith("0b"):
                integer = _go_int(plain[2:], signed=True, base=2)
                if integer is None:
                    integer = _go_int(plain[2:], signed=False, base=2)
                if integer is not None:
                    return _INT, integer
            elif plain.startswith("-0b"):
                integer = _go_int("-" + plain[3:], signed=True, base=2)
                if integer is not None:
                    return _INT, integer
    return _STR, text


def plain_is_string(text: str) -> bool:
    """Whether go-yaml v2 reads `text`, unquoted, as a string (its encoder quotes it if not)."""
    return _resolve(_PLAIN, text)[0] == _STR


def _scalar(node: ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _STR:
        return text
    if tag not in _RESOLVABLE:
        if tag == _BINARY:
            return _binary(text, node)
        return text  # an unknown tag: go-yaml keeps the text
    rtag, value = _resolve(tag, text)
    if tag in (_PLAIN, rtag):
        return value
    if tag == _FLOAT and rtag == _INT:
        return float(value)
    raise YAMLError(
        f"cannot decode {_short(rtag)} `{text}` as a {_short(tag)}", node.start_mark.line + 1
    )


def _binary(text: str, node: ScalarNode) -> str:
    try:
        data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise YAMLError(
            "!!binary value contains invalid base64 data", node.start_mark.line + 1
        ) from None
    return data.decode("utf-8", errors="helmguard-go-replace")


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _json_number(value: Any, node: Node) -> Any:
    """A Go float64 as encoding/json prints it and the API server reads it back."""
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            go = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
            raise YAMLError(f"json: unsupported value: {go}", node.start_mark.line + 1)
        if value.is_integer() and abs(value) < 1e21:
            # Go prints the shortest digits that round-trip, then zeros: 2**64 is
            # 18446744073709552000, not 18446744073709551616.
            return int(value) if abs(value) < 2**53 else int(Decimal(repr(value)))
    return value


def _key_string(key: Any, node: Node) -> str:
    """sigs.k8s.io/yaml's conversion of a go-yaml map key to a JSON object key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and _INT64[0] <= key <= _INT64[1]:
        return str(key)
    if isinstance(key, float):
        return _float32_g(key)
    go_type = "<nil>" if key is None else "uint64"
    raise YAMLError(f"unsupported map key of type: {go_type}", node.start_mark.line + 1)


def _float32_g(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), as sigs.k8s.io/yaml formats float keys."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value) or abs(value) > _FLOAT32_MAX:
        return ".inf" if value > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", value))[0]
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(1, 10):
        digits = f"{single:.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(digits)))[0] == single:
            break
    mantissa, exponent = digits.split("e")
    exp = int(exponent)
    figures = mantissa.replace(".", "").lstrip("-")
    sign = "-" if single < 0 else ""
    if exp < -4 or exp >= 6:
        rest = f".{figures[1:]}" if len(figures) > 1 else ""
        return f"{sign}{figures[0]}{rest}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{figures}"
    whole, frac = figures[: exp + 1].ljust(exp + 1, "0"), figures[exp + 1 :]
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


class _Decoder:
    """go-yaml v2's decoder into interface{}, followed by the JSON conversion.

    libyaml's composer shares an anchored node with its aliases, so aliases are told by
    identity: on the first walk through a collection, a child already seen is an alias;
    which child slots were aliases is recorded, so an alias expansion walks the same
    collection again with the same answers. Counting follows go-yaml's decoder.
    """

    def __init__(self, *, track_aliases: bool) -> None:
        self.track = track_aliases
        self.seen: set[int] = set()
        self.slots: dict[int, list[bool]] = {}  # collection -> which children are aliases
        self.expanding: set[int] = set()
        self.decode_count = 1  # the document node
        self.alias_count = 0
        self.alias_depth = 0

    def value(self, node: Node) -> Any:
        if self.track and self._slot(node, None, 0, None):
            return self._expand(node, self._decode)
        return self._decode(node)

    def _decode(self, node: Node) -> Any:
        if node.__class__ is ScalarNode:
            return _json_number(_scalar(node), node)
        if node.__class__ is MappingNode:
            out: dict[str, Any] = {}
            self._mapping(node, out)
            return out
        if not self.track:
            return [self._decode(item) for item in node.value]
        flags = self.slots.get(id(node))
        record: list[bool] | None = [] if flags is None else None
        items = []
        for index, item in enumerate(node.value):
            alias = self._slot(item, flags, index, record)
            items.append(self._expand(item, self._decode) if alias else self._decode(item))
        if record is not None:
            self.slots[id(node)] = record
        return items

    def _mapping(self, node: MappingNode, out: dict[str, Any]) -> None:
        flags = self.slots.get(id(node)) if self.track else None
        record: list[bool] | None = [] if self.track and flags is None else None
        for index, (key_node, value_node) in enumerate(node.value):
            if (
                key_node.__class__ is ScalarNode
                and key_node.value == "<<"
                and key_node.tag in (_PLAIN, _MERGE)
            ):
                if record is not None:
                    record.append(False)
                self._merge(value_node, out, flags, 2 * index + 1, record)
                continue
            if self.track and self._slot(key_node, flags, 2 * index, record):
                key = self._expand(key_node, self._key)
            else:
                key = self._key(key_node)
            if self.track and self._slot(value_node, flags, 2 * index + 1, record):
                out[key] = self._expand(value_node, self._decode)
            else:
                out[key] = self._decode(value_node)
        if record is not None:
            self.slots[id(node)] = record

    def _key(self, node: Node) -> str:
        if node.__class__ is not ScalarNode:
            raise YAMLError("invalid map key: a map or a list", node.start_mark.line + 1)
        return _key_string(_scalar(node), node)

    def _merge(
        self,
        node: Node,
        out: dict[str, Any],
        flags: list[bool] | None,
        index: int,
        record: list[bool] | None,
    ) -> None:
        """go-yaml v2 merge(): the merged maps' keys set into `out` where `<<` stands."""
        alias = self.track and self._slot(node, flags, index, record)
        if node.__class__ is MappingNode:
            if alias:
                self._expand(node, lambda n: self._mapping(n, out))
            else:
                self._mapping(node, out)
            return
        if node.__class__ is ScalarNode or alias:
            raise _want_map(node)
        item_flags = self.slots.get(id(node)) if self.track else None
        item_record: list[bool] | None = [] if self.track and item_flags is None else None
        items = list(enumerate(node.value))
        if item_record is not None:
            item_record.extend([False] * len(items))
        for position, item in reversed(items):  # earlier maps take precedence: applied last
            item_alias = False
            if self.track:
                item_alias = self._slot(item, item_flags, position, None)
                if item_record is not None:
                    item_record[position] = item_alias
            if item.__class__ is not MappingNode:
                raise _want_map(item)
            if item_alias:
                self._expand(item, lambda n: self._mapping(n, out))
            else:
                self._mapping(item, out)
        if item_record is not None:
            self.slots[id(node)] = item_record

    def _slot(
        self, node: Node, flags: list[bool] | None, index: int, record: list[bool] | None
    ) -> bool:
        """Count a decode step; whether the child in this slot is an alias."""
        self._count()
        if flags is not None:
            return flags[index]
        key = id(node)
        alias = key in self.seen
        self.seen.add(key)
        if record is not None:
            record.append(alias)
        return alias

    def _count(self) -> None:
        self.decode_count += 1
        if self.alias_depth:
            self.alias_count += 1
        if (
            self.alias_count > 100
            and self.decode_count > 1000
            and self.alias_count / self.decode_count > _allowed_alias_ratio(self.decode_count)
        ):
            raise YAMLError("document contains excessive aliasing")

    def _expand(self, node: Node, decode: Callable[[Any], Any]) -> Any:
        key = id(node)
        if key in self.expanding:
            raise YAMLError("anchor value contains itself", node.start_mark.line + 1)
        self.expanding.add(key)
        self.alias_depth += 1
        self._count()  # the anchored node, decoded once more
        try:
            return decode(node)
        finally:
            self.alias_depth -= 1
            self.expanding.discard(key)


def _want_map(node: Node) -> YAMLError:
    return YAMLError(
        "map merge requires map or sequence of maps as the value", node.start_mark.line + 1
    )


def _allowed_alias_ratio(decode_count: int) -> float:
    if decode_count <= _ALIAS_RATIO_LOW:
        return 0.99
    if decode_count >= _ALIAS_RATIO_HIGH:
        return 0.10
    span = _ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW
    return 0.99 - 0.89 * ((decode_count - _ALIAS_RATIO_LOW) / span)
