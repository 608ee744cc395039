"""The values editor's checks, as pure functions: YAML syntax at the line (Go's reader),
validation of the effective values against the chart's values.schema.json (as Helm does:
JSON Schema, draft 7 unless the schema names another), and the diff against the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from helmguard import goyaml
from helmguard.chart.values import coalesce_tables


@dataclass(frozen=True)
class YamlProblem:
    """Values text Helm would refuse: the message, and the 1-based line when known."""

    message: str
    line: int | None


@dataclass(frozen=True)
class SchemaProblem:
    """A value the schema refuses: `pointer` is Helm's `at '/a/b'` ('' for the top level),
    `path` the dotted form."""

    pointer: str
    path: str
    message: str


@dataclass(frozen=True)
class ValueChange:
    """One leaf where the effective values differ from the chart's defaults."""

    path: str
    change: str  # "added", "changed" or "removed"
    default: Any
    value: Any


def parse_values(text: str) -> tuple[dict[str, Any], YamlProblem | None]:
    """`text` read as Helm reads a values file; an empty mapping and the problem if it cannot."""
    if not text.strip():
        return {}, None
    try:
        parsed = goyaml.load(text)
    except goyaml.YAMLError as exc:
        return {}, YamlProblem(exc.problem, exc.line)
    if parsed is None:
        return {}, None
    if not isinstance(parsed, dict):
        return {}, YamlProblem(
            "values must be a YAML mapping of keys to values (like `key: value`)", 1
        )
    return parsed, None


def effective_values(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """What the templates see: the overrides over the defaults, a null removing a default
    (Helm's CoalesceValues)."""
    merged = coalesce_tables(overrides, defaults)
    return _without_nulls(merged)


def _without_nulls(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in values.items()
        if v is not None
    }


def _dotted(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_problems(values: Mapping[str, Any], schema_text: str) -> list[SchemaProblem]:
    """Every violation of the chart's values.schema.json by `values`, by field path.

    A schema that is not JSON or not a valid schema is itself reported (at the root),
    as Helm refuses to render such a chart.
    """
    import jsonschema
    from jsonschema.exceptions import SchemaError

    if not schema_text.strip():
        return []
    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as exc:
        return [SchemaProblem("", "", f"values.schema.json is not JSON: {exc}")]
    # validator_for reads `$schema` with `in`: a number or null is judged by draft 7 instead.
    validator_class = (
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        if isinstance(schema, dict | bool)
        else jsonschema.Draft7Validator
    )
    try:
        validator_class.check_schema(schema)
    except SchemaError as exc:
        return [SchemaProblem("", "", f"values.schema.json is not a valid schema: {exc.message}")]
    validator = validator_class(schema)
    problems = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path))):
        parts = list(error.absolute_path)
        pointer = "".join(f"/{p}" for p in parts)  # Helm's `at '...'`: '' is the root
        problems.append(SchemaProblem(pointer, _dotted(parts), error.message))
    return problems


def diff(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> list[ValueChange]:
    """The leaves of `values` that differ from `defaults`, in path order."""
    changes: list[ValueChange] = []

    def walk(a: Any, b: Any, path: list[Any]) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                if key not in b:
                    changes.append(ValueChange(_dotted([*path, key]), "removed", a[key], None))
                elif key not in a:
                    changes.append(ValueChange(_dotted([*path, key]), "added", None, b[key]))
                else:
                    walk(a[key], b[key], [*path, key])
        elif a != b or type(a) is not type(b):
            changes.append(ValueChange(_dotted(path), "changed", a, b))

    walk(defaults, values, [])
    return changes
