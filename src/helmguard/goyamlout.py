"""What helm's `-o yaml` prints for flat records: sigs.k8s.io/yaml's Marshal (keys sorted)
written by go-yaml v2's encoder and emitter.

Only what `helm list -o yaml` holds: a sequence of mappings of strings (or of strings).
A string is written plain when go-yaml would read it back as the same string and the
emitter allows it plain; "double-quoted" when it would read as another type (a number, a
bool, null, a timestamp, a sexagesimal float); 'single-quoted' when plain is not allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from helmguard.goyaml import plain_is_string

# go-yaml v2 encode.go isBase60Float: 1:20, -1:20:30.5 (YAML 1.1 sexagesimal) are quoted.
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
# libyaml's indicators a plain scalar may not start with (`-`, `?`, `:` only before a blank).
_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")


def dump_records(records: Sequence[Mapping[str, str]] | Sequence[str]) -> str:
    """A sequence of flat string mappings (or of strings) as helm's -o yaml writes it."""
    if not records:
        return "[]\n"
    lines: list[str] = []
    for record in records:
        if isinstance(record, str):
            lines.append(f"- {scalar(record)}")
            continue
        if not record:
            lines.append("- {}")
            continue
        for n, key in enumerate(sorted(record)):
            lead = "- " if n == 0 else "  "
            lines.append(f"{lead}{scalar(key)}: {scalar(record[key])}")
    return "\n".join(lines) + "\n"


def scalar(text: str) -> str:
    """One string as go-yaml v2 writes it in block context."""
    if not plain_is_string(text) or _BASE60_FLOAT.fullmatch(text):
        return _double_quoted(text)
    if _plain_allowed(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def _plain_allowed(text: str) -> bool:
    """libyaml's yaml_emitter_analyze_scalar for a block plain scalar, single-line text."""
    if not text or text != text.strip(" ") or any(c in text for c in "\n\r\t"):
        return False
    if text.startswith(("---", "...")) or text[0] in _FIRST_INDICATORS:
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    if ": " in text or " #" in text or text.endswith(":"):
        return False
    return text.isprintable()


def _double_quoted(text: str) -> str:
    """A double-quoted scalar; JSON's escapes are YAML's for the printable text here."""
    return json.dumps(text, ensure_ascii=False)
