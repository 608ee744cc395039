"""helmguard's YAML reading against Go's (tools/yamlref: sigs.k8s.io/yaml, apimachinery).

Every corpus case is fed to both; the test fails listing each case where the values
differ or only one side rejects the input.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from goyaml.cases import CASES, SAME_ERROR_TEXT, Case
from helmguard import goyaml
from helmguard.manifest import ManifestError, load_crd_documents, load_documents
from yamlref import ERROR, go_documents, yamlref_binary


@pytest.fixture(scope="session")
def yamlref() -> Path:
    return yamlref_binary()


def _ours(mode: str, data: str | bytes) -> list[Any]:
    try:
        if mode == "doc":
            value = goyaml.load(data)
            return [] if value is None else [value]
        assert isinstance(data, str)
        if mode == "helm":
            docs = load_documents(data, "case.yaml")
        else:
            docs = load_crd_documents(data, "case.yaml")
    except (goyaml.YAMLError, ManifestError) as exc:
        return [(ERROR, str(exc))]
    return [body for body, _ in docs if body is not None]


def _canonical(values: list[Any], *, with_text: bool = False) -> list[str]:
    """Exact JSON text per value (1 and 1.0 and true differ); any error refuses it all.

    Helm fails a render (and an install, a crds/ file) at its first bad document, so
    the documents Go read before the error do not matter. With `with_text`, an error is
    its problem as go-yaml words it (without the file, the line and "yaml: ").
    """
    for value in values:
        if isinstance(value, tuple):
            return [_problem(value[1]) if with_text else ERROR]
    return [json.dumps(v, sort_keys=True) for v in values]


def _problem(message: str) -> str:
    return re.sub(r"^(?:.*?invalid YAML at )?(?:yaml: )?(?:line \d+: )?", "", message)


def _differences(binary: Path, cases: list[Case]) -> list[str]:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # Python's json reads and prints the 10000-deep cases
    try:
        return _compare(binary, cases)
    finally:
        sys.setrecursionlimit(limit)


def _compare(binary: Path, cases: list[Case]) -> list[str]:
    differ = []
    for name, mode, data in cases:
        raw = data if isinstance(data, bytes) else data.encode()
        go, ours = go_documents(binary, mode, raw), _ours(mode, data)
        with_text = name in SAME_ERROR_TEXT
        if _canonical(go, with_text=with_text) != _canonical(ours, with_text=with_text):
            differ.append(f"{name} ({mode}):\n    go:   {go!r:.300}\n    ours: {ours!r:.300}")
    return differ


def test_corpus_has_every_class() -> None:
    assert len(CASES) >= 100
    assert len({name for name, _, _ in CASES}) == len(CASES)
    assert {mode for _, mode, _ in CASES} == {"helm", "reader", "doc"}
    assert {name for name, _, _ in CASES} >= SAME_ERROR_TEXT


def test_helmguard_reads_yaml_as_go_does(yamlref: Path) -> None:
    differ = _differences(yamlref, CASES)
    assert not differ, f"{len(differ)} of {len(CASES)} cases differ:\n" + "\n".join(differ)


def test_the_comparison_sees_a_difference(yamlref: Path) -> None:
    # PyYAML's own reading of `y` (a string) must be caught as a difference.
    assert _canonical(go_documents(yamlref, "doc", b"a: y\n")) != _canonical([{"a": "y"}])
    # An error worded otherwise is a difference where the wording is compared.
    go = go_documents(yamlref, "doc", b"a: \xff\n")
    assert _canonical(go, with_text=True) == ["invalid leading UTF-8 octet"]
    assert _canonical(go, with_text=True) != _canonical(
        [(ERROR, "line 1: invalid UTF-8")], with_text=True
    )
