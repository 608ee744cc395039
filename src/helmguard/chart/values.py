"""User values from Helm's flags, merged with Helm v4's exact precedence.

Helm (pkg/cli/values.Options.MergeValues) applies, in this order: every `-f` file
(deep-merged, later wins), then each `--set-json`, `--set`, `--set-string`, `--set-file`
and `--set-literal` flag parsed *into* the values so far. Expressions are parsed by Helm's own
strvals parser through helm-python-sdk. That parser only parses into an empty map, so
"into the values so far" is reproduced here: a probe parse with marker entries tells,
for every map and list an expression produced, whether it assigned it whole
(`a={1,2}`, `a={"x":1}`: replaces) or addressed inside it (`a.b=1`, `a[1]=x`: merges).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helmguard.chart.source import ChartError, _http_get

_SEED = "__helmguard_seed__"
# The k8s YAMLReader document separator Helm's values loader uses: `---` plus blanks or
# a comment, nothing else on the line.
_VALUES_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_KEY_SPECIALS = re.compile(r"([\\=\[\],.])")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class ValuesOptions:
    """Helm's values flags, each in the order given on the command line."""

    values_files: tuple[str, ...] = ()
    set_values: tuple[str, ...] = ()
    set_string: tuple[str, ...] = ()
    set_file: tuple[str, ...] = ()
    set_json: tuple[str, ...] = ()
    set_literal: tuple[str, ...] = ()


def merge_user_values(opts: ValuesOptions) -> dict[str, Any]:
    """The user-supplied values, exactly as `helm template`/`helm install` would build them.

    Raises ChartError for an unreadable or non-mapping values file and for a malformed
    expression, with the flag and Helm's own parser message.
    """
    import helm_python  # loads the Helm library: only when values are actually merged

    base: dict[str, Any] = {}
    for path in opts.values_files:
        base = merge_maps(base, load_values_file(path))
    for expr in opts.set_json:
        stripped = expr.strip()
        if stripped.startswith("{"):
            try:
                whole = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ChartError(f"--set-json {expr}: not valid JSON: {exc}") from None
            if not isinstance(whole, dict):
                raise ChartError(f"--set-json {expr}: a JSON document must be an object")
            base = merge_maps(base, whole)
        else:
            base = _parse_into(base, expr, "--set-json", helm_python.parse_set_json, True)
    for expr in opts.set_values:
        base = _parse_into(base, expr, "--set", helm_python.parse_set_string, False)
    for expr in opts.set_string:
        base = _parse_into(base, expr, "--set-string", helm_python.parse_set_string_values, False)
    for expr in opts.set_file:
        base = _parse_into(base, expr, "--set-file", helm_python.parse_set_file, False)
    for expr in opts.set_literal:
        base = _parse_literal_into(base, expr)
    return base


def merge_maps(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Helm's loader.MergeMaps: `b` wins; maps present in both merge recursively."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def coalesce_tables(dst: dict[str, Any] | None, src: dict[str, Any] | None) -> dict[str, Any]:
    """Helm's util.CoalesceTables: `dst` wins, `src` fills what it lacks; a null in `dst`
    removes a value `src` has. Neither argument is modified.
    """
    if src is None:
        return dict(dst or {})
    if dst is None:
        return dict(src)
    out = dict(dst)
    had = {k for k, v in src.items() if v is not None}
    merged_src = {**src, **{k: None for k, v in dst.items() if v is None}}
    for key, value in merged_src.items():
        if key not in out:
            out[key] = value
        elif out[key] is None and key in had:
            del out[key]  # the user nullifies a value the old release had
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = coalesce_tables(out[key], value)
    return out


def _without_nulls(table: dict[str, Any]) -> dict[str, Any]:
    """Helm's cleanNilValues: a table without its null values, at every depth."""
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v
        for k, v in table.items()
        if v is not None
    }


def coalesce_values(defaults: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
    """Helm's util.CoalesceValues for a chart without subcharts (a stored release's chart).

    `values` win and a null there removes the default; nulls among the defaults are
    dropped. What `helm get values --all` prints. Neither argument is modified.
    """
    out = dict(values)
    for key, default in (defaults or {}).items():
        if key in out:
            mine = out[key]
            if mine is None:
                del out[key]
            elif isinstance(mine, dict) and isinstance(default, dict):
                out[key] = coalesce_tables(mine, _without_nulls(default))
        elif default is not None:
            out[key] = _without_nulls(default) if isinstance(default, dict) else default
    return out


def load_values_file(path: str) -> dict[str, Any]:
    """One `-f` argument (a path, `-` for stdin, or an http(s) URL) as a values mapping.

    Multiple YAML documents in one file are merged, later documents winning, as Helm v4 does.
    """
    if path.strip() == "-":
        text = sys.stdin.read()
    elif re.match(r"^https?://", path):
        text = _http_get(path, f"values file {path}").decode("utf-8", errors="replace")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ChartError(f"values file {path}: cannot read it: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ChartError(f"values file {path}: not UTF-8 text") from None
    return values_from_text(text, f"values file {path}")


def values_from_text(text: str, what: str) -> dict[str, Any]:
    """Values YAML as Helm reads a values file (Go semantics); ChartError names `what`."""
    import helm_python

    values: dict[str, Any] = {}
    for number, doc in enumerate(_VALUES_SEPARATOR.split(text), start=1):
        try:
            current = helm_python.values_from_yaml(doc)
        except helm_python.HelmError as exc:
            if "cannot unmarshal" in str(exc):
                raise ChartError(
                    f"{what}: document {number} is not a mapping of keys to "
                    "values (a values file must be a YAML mapping like `key: value`)"
                ) from None
            raise ChartError(f"{what}: invalid YAML: {exc}") from None
        values = merge_maps(values, current)
    return values


def _parse_into(
    base: dict[str, Any],
    expr: str,
    flag: str,
    parse: Callable[[str], dict[str, Any]],
    is_json: bool,
) -> dict[str, Any]:
    """Helm's strvals.ParseInto(expr, base) for one flag occurrence."""
    import helm_python

    try:
        patch = parse(expr)
        containers = list(_containers(patch, ()))
        seeds = [_seed_expression(p, v, is_json) for p, v in containers]
        probe_parse = helm_python.parse_set_json if is_json else helm_python.parse_set_string_values
        probe = probe_parse(",".join([*seeds, expr])) if seeds else patch
    except helm_python.HelmError as exc:
        raise ChartError(f"{flag} {expr}: {exc}") from None
    try:
        return _apply_map(base, patch, probe, flag, expr, ())
    except _Conflict as exc:
        raise ChartError(
            f"{flag} {expr}: cannot set {_render_path(exc.path)}: the values so far hold a "
            f"{exc.found} there (Helm fails the same way: unable to parse key)"
        ) from None


def _parse_literal_into(base: dict[str, Any], expr: str) -> dict[str, Any]:
    """Helm's strvals.ParseLiteralInto: one key=value, the value a string taken whole.

    Its value is never a map or a list, so every map and list of the parsed patch is on the
    key's path, addressed inside: no probe parse is needed to tell.
    """
    import helm_python

    try:
        patch = helm_python.parse_set_literal(expr)
    except helm_python.HelmError as exc:
        raise ChartError(f"--set-literal {expr}: {exc}") from None
    try:
        return _apply_map(base, patch, _addressed_everywhere(patch), "--set-literal", expr, ())
    except _Conflict as exc:
        raise ChartError(
            f"--set-literal {expr}: cannot set {_render_path(exc.path)}: the values so far "
            f"hold a {exc.found} there (Helm fails the same way)"
        ) from None


def _addressed_everywhere(value: Any) -> Any:
    """The probe a parse would give if every map and list in `value` were addressed inside."""
    if isinstance(value, dict):
        return {**{k: _addressed_everywhere(v) for k, v in value.items()}, _SEED: _SEED}
    if isinstance(value, list):
        return [*(_addressed_everywhere(v) for v in value), _SEED]
    return value


class _Conflict(Exception):
    def __init__(self, path: Path_, found: str) -> None:
        super().__init__(path, found)
        self.path = path
        self.found = found


def _containers(value: Any, path: Path_) -> list[tuple[Path_, Any]]:
    """Every map and list inside the parsed patch (not the root), parents first."""
    found: list[tuple[Path_, Any]] = []
    items: list[tuple[str | int, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return found
    for key, child in items:
        if isinstance(child, dict | list):
            found.append(((*path, key), child))
            found.extend(_containers(child, (*path, key)))
    return found


def _render_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            escaped = _KEY_SPECIALS.sub(r"\\\1", part)
            out += f".{escaped}" if out else escaped
    return out


def _seed_expression(path: Path_, value: Any, is_json: bool) -> str:
    """A marker that survives in the probe only if the expression addresses inside `path`."""
    seed_value = json.dumps(_SEED) if is_json else _SEED
    if isinstance(value, list):
        return f"{_render_path((*path, len(value)))}={seed_value}"
    return f"{_render_path((*path, _SEED))}={seed_value}"


def _addressed_inside(probe: Any, patch_value: Any) -> bool:
    if isinstance(patch_value, list):
        n = len(patch_value)
        return isinstance(probe, list) and len(probe) > n and probe[n] == _SEED
    return isinstance(probe, dict) and probe.get(_SEED) == _SEED


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "map", list: "list", str: "string", bool: "boolean"}.get(type(value), "number")


def _apply_map(
    base: dict[str, Any], patch: dict[str, Any], probe: Any, flag: str, expr: str, path: Path_
) -> dict[str, Any]:
    out = dict(base)
    probe_map = probe if isinstance(probe, dict) else {}
    for key, value in patch.items():
        here = (*path, key)
        key_probe = probe_map.get(key)
        if isinstance(value, dict) and _addressed_inside(key_probe, value):
            if key in base and not isinstance(base[key], dict):
                raise _Conflict(here, _type_name(base[key]))
            out[key] = _apply_map(base.get(key) or {}, value, key_probe, flag, expr, here)
        elif isinstance(value, list) and _addressed_inside(key_probe, value):
            if key in base and not isinstance(base[key], list):
                raise _Conflict(here, _type_name(base[key]))
            out[key] = _apply_list(base.get(key) or [], value, key_probe, flag, expr, here)
        else:
            out[key] = value
    return out


def _apply_list(
    base: list[Any], patch: list[Any], probe: Any, flag: str, expr: str, path: Path_
) -> list[Any]:
    out = list(base) + [None] * max(0, len(patch) - len(base))
    for index, value in enumerate(patch):
        element_probe = probe[index] if isinstance(probe, list) and index < len(probe) else None
        if value is None and element_probe is None:
            continue  # an index the expression did not touch keeps the value it had
        existing = base[index] if index < len(base) else None
        if isinstance(value, dict) and _addressed_inside(element_probe, value):
            # Helm replaces a non-map element with an empty map here rather than failing.
            start = existing if isinstance(existing, dict) else {}
            out[index] = _apply_map(start, value, element_probe, flag, expr, (*path, index))
        elif isinstance(value, list) and _addressed_inside(element_probe, value):
            if existing is not None and not isinstance(existing, list):
                raise _Conflict((*path, index), _type_name(existing))
            out[index] = _apply_list(
                existing or [], value, element_probe, flag, expr, (*path, index)
            )
        else:
            out[index] = value
    return out
