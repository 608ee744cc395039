"""Loading recorded objects for the status unit tests."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from helmguard.manifest import K8sObject, parse_objects

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> list[K8sObject]:
    """Every object in tests/status/fixtures/<name>.yaml."""
    return parse_objects((FIXTURES / f"{name}.yaml").read_text(), name)


def named(objects: list[K8sObject], kind: str, name: str | None = None) -> K8sObject:
    """The one object of `kind` (and `name`, if given) among `objects`."""
    found = [o for o in objects if o.kind == kind and (name is None or o.name == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def edited(obj: K8sObject, **paths: Any) -> K8sObject:
    """A deep copy of `obj` with dotted paths (`status__replicas`) set; None deletes."""
    body = copy.deepcopy(dict(obj.body))
    for dotted, value in paths.items():
        keys = dotted.split("__")
        node = body
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return K8sObject(body, obj.source)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
