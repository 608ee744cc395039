"""goyaml's promises that the Go comparison does not cover: lines, limits, inputs, speed."""

from __future__ import annotations

import sys
import time

import pytest

from goyaml.cases import _bomb
from helmguard import goyaml


def test_errors_carry_the_line() -> None:
    with pytest.raises(goyaml.YAMLError) as info:
        goyaml.load("a: 1\nb:\n  c: [1, 2\n")
    assert info.value.line == 4 and "did not find expected" in info.value.problem
    with pytest.raises(goyaml.YAMLError) as info:
        goyaml.load("a: 1\nb: .nan\n")
    assert (info.value.line, info.value.problem) == (2, "json: unsupported value: NaN")


def test_bytes_must_be_utf8_and_the_line_is_named() -> None:
    assert goyaml.load(b"a: \xc3\xa9\n") == {"a": "é"}
    with pytest.raises(goyaml.YAMLError, match=r"^line 3: invalid leading UTF-8 octet$"):
        goyaml.load(b"a: 1\nb: 2\nc: \xff\n")
    # Text from Go's JSON or surrogateescape: the byte is a lone surrogate.
    with pytest.raises(goyaml.YAMLError, match=r"^line 2: invalid UTF-8"):
        goyaml.load("a: 1\nb: \udcff\n")


def test_an_alias_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(goyaml.YAMLError, match="excessive aliasing"):
        goyaml.load(_bomb(9, 9))
    assert time.monotonic() - started < 1.0


def test_aliases_are_copies_not_shared_objects() -> None:
    value = goyaml.load("a: &x {k: [1]}\nb: *x\n")
    assert value["a"] == value["b"] and value["a"] is not value["b"]
    assert value["a"]["k"] is not value["b"]["k"]


def test_deep_nesting_up_to_go_yaml_limit() -> None:
    value, depth = goyaml.load("a: " + "[" * 5000 + "]" * 5000 + "\n")["a"], 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == 5000
    assert sys.getrecursionlimit() < 10_000  # raised only while reading the deep document
    with pytest.raises(goyaml.YAMLError, match=r"^line 1: exceeded max depth of 10000$"):
        goyaml.load("[" * 10_001 + "]" * 10_001)
    started = time.monotonic()
    with pytest.raises(goyaml.YAMLError, match="exceeded max depth of 10000"):
        goyaml.load("- " * 100_000 + "x\n")
    assert time.monotonic() - started < 5.0  # refused at go-yaml's limit, not parsed deeper


def test_first_document_only_and_empty_input() -> None:
    assert goyaml.load("a: 1\n---\nb: 2\n") == {"a": 1}
    assert goyaml.load("") is None
    assert goyaml.load("# only a comment\n") is None
