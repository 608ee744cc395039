"""Label selectors as kubectl writes them: `k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a)`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """The selector text cannot be parsed."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class Selector:
    """A parsed label selector; the empty selector matches nothing (a release needs one)."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return bool(self.requirements) and all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return self.text


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(text: str) -> Selector:
    """Parse a label selector; raise SelectorError naming the bad part."""
    requirements: list[Requirement] = []
    for part in _split(text):
        if m := _SET.match(part):
            values = frozenset(v.strip() for v in m[3].split(",") if v.strip())
            requirements.append(Requirement(m[1], m[2], values))
        elif "!=" in part:
            key, _, value = part.partition("!=")
            requirements.append(Requirement(key.strip(), "notin", frozenset({value.strip()})))
        elif "=" in part:
            key, _, value = part.partition("==" if "==" in part else "=")
            requirements.append(Requirement(key.strip(), "in", frozenset({value.strip()})))
        elif part.startswith("!"):
            requirements.append(Requirement(part[1:].strip(), "!exists"))
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", part):
            requirements.append(Requirement(part, "exists"))
        else:
            raise SelectorError(f"cannot parse label selector part {part!r} of {text!r}")
    if not requirements or any(not r.key for r in requirements):
        raise SelectorError(f"label selector {text!r} selects nothing; use e.g. app=NAME")
    return Selector(text, tuple(requirements))
