"""The values editor's checks: schema problems held to the real `helm template` (the same
field pointers Helm refuses), effective values as Helm coalesces them, the diff, YAML lines."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helmcli import helm_binary
from helmguard.chart.valuescheck import diff, effective_values, parse_values, schema_problems

DEFAULTS = """replicaCount: 1
image:
  repository: nginx
  tag: "1.27"
service:
  port: 80
ports: [80]
"""
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service"],
    "properties": {
        "replicaCount": {"type": "integer", "minimum": 1, "maximum": 5},
        "image": {
            "type": "object",
            "properties": {"tag": {"type": "string", "pattern": "^[0-9.]+$"}},
            "additionalProperties": {"type": "string"},
        },
        "service": {"type": "object", "required": ["port"]},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "mode": {"enum": ["a", "b"]},
    },
}
CASES = [
    "",
    "replicaCount: 9\n",
    "replicaCount: 0\nimage:\n  tag: latest\n",
    "image:\n  tag: 3\n  pullPolicy: 1\n",
    "service: null\n",
    "service:\n  port: null\n",
    "ports: [80, http]\nmode: c\n",
    "replicaCount: 2.5\n",
]


def _helm_pointers(tmp_path: Path, values: str) -> set[str]:
    """The `at '...'` pointers of `helm template`'s schema error (empty: it renders)."""
    chart = tmp_path / "schemachart"
    if not chart.exists():
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: schemachart\nversion: 0.1.0\n")
        (chart / "values.yaml").write_text(DEFAULTS)
        (chart / "values.schema.json").write_text(json.dumps(SCHEMA))
        (chart / "templates" / "cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
        )
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(values)
    run = subprocess.run(
        [str(helm_binary()), "template", str(chart), "-f", str(overrides)],
        capture_output=True,
        text=True,
    )
    if run.returncode == 0:
        return set()
    assert "don't meet the specifications of the schema" in run.stderr, run.stderr
    return set(re.findall(r"^- at '([^']*)'", run.stderr, flags=re.M))


@pytest.mark.parametrize("values", CASES)
def test_schema_problems_are_at_the_pointers_helm_refuses(tmp_path: Path, values: str) -> None:
    defaults, _ = parse_values(DEFAULTS)
    overrides, problem = parse_values(values)
    assert problem is None
    ours = schema_problems(effective_values(defaults, overrides), json.dumps(SCHEMA))
    assert {p.pointer for p in ours} == _helm_pointers(tmp_path, values)


def test_effective_values_and_the_diff() -> None:
    defaults, _ = parse_values(DEFAULTS)
    overrides, _ = parse_values("image:\n  tag: null\n  pullPolicy: Always\nports: [81]\n")
    effective = effective_values(defaults, overrides)
    assert effective["image"] == {"repository": "nginx", "pullPolicy": "Always"}
    assert [(c.path, c.change) for c in diff(defaults, effective)] == [
        ("image.pullPolicy", "added"),
        ("image.tag", "removed"),
        ("ports", "changed"),
    ]
    assert diff(defaults, effective_values(defaults, {})) == []
    # 1 and true, 80 and 80.0 are different values to a template.
    assert [c.path for c in diff({"a": 1, "b": 80}, {"a": True, "b": 80.0})] == ["a", "b"]


def test_yaml_problems_carry_the_line() -> None:
    assert parse_values("a: 1\nb: c: d\n")[1] is not None
    assert parse_values("a: 1\nb: c: d\n")[1].line == 2  # type: ignore[union-attr]
    assert parse_values("- 1\n- 2\n")[1].line == 1  # type: ignore[union-attr]
    assert parse_values("# only a comment\n") == ({}, None)


def test_a_broken_schema_is_reported_not_raised() -> None:
    assert "not JSON" in schema_problems({}, "{")[0].message
    assert "not a valid schema" in schema_problems({}, '{"type": 5}')[0].message
    # JSON that is no object (the fuzz test's find: jsonschema's validator_for raised on these)
    for text in ("3", "null", "[1]", '"x"'):
        assert "not a valid schema" in schema_problems({"a": 1}, text)[0].message, text
    assert schema_problems({"a": 1}, "") == []
