"""Helm's values flags and their precedence, through Helm's own strvals parser."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.source import ChartError
from helmguard.chart.values import ValuesOptions, merge_user_values

from .conftest import CHARTS


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def base_file(tmp_path: Path) -> str:
    return write(
        tmp_path,
        "base.yaml",
        "image:\n  repository: nginx\n  tag: '1.0'\nports: [80, 443, 8080]\n"
        "resources:\n  limits: {cpu: 100m, memory: 64Mi}\nname: base\n",
    )


def test_later_values_files_win_and_maps_merge(tmp_path: Path, base_file: str) -> None:
    override = write(tmp_path, "override.yaml", "image:\n  tag: '2.0'\nname: override\n")
    values = merge_user_values(ValuesOptions(values_files=(base_file, override)))
    assert values["image"] == {"repository": "nginx", "tag": "2.0"}
    assert values["name"] == "override"
    reverse = merge_user_values(ValuesOptions(values_files=(override, base_file)))
    assert reverse["image"]["tag"] == "1.0"
    assert reverse["name"] == "base"


def test_documents_in_one_values_file_merge_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, "multi.yaml", "a: 1\nb: {p: 1}\n---  # second\nb: {q: 2}\na: 3\n")
    assert merge_user_values(ValuesOptions(values_files=(path,))) == {
        "a": 3,
        "b": {"p": 1, "q": 2},
    }


def test_each_flag_overrides_the_ones_helm_applies_before_it(
    tmp_path: Path, base_file: str
) -> None:
    # Helm v4 order: -f, --set-json, --set, --set-string, --set-file, --set-literal.
    content = write(tmp_path, "name.txt", "from-file")
    every = ValuesOptions(
        values_files=(base_file,),
        set_json=('name="from-json"',),
        set_values=("name=from-set",),
        set_string=("name=from-set-string",),
        set_file=(f"name={content}",),
    )
    assert merge_user_values(every)["name"] == "from-file"
    literal = ValuesOptions(**{**every.__dict__, "set_literal": ("name=from,literal",)})
    assert merge_user_values(literal)["name"] == "from,literal"
    no_file = ValuesOptions(**{**every.__dict__, "set_file": ()})
    assert merge_user_values(no_file)["name"] == "from-set-string"
    no_string = ValuesOptions(**{**no_file.__dict__, "set_string": ()})
    assert merge_user_values(no_string)["name"] == "from-set"
    no_set = ValuesOptions(**{**no_string.__dict__, "set_values": ()})
    assert merge_user_values(no_set)["name"] == "from-json"
    assert merge_user_values(ValuesOptions(values_files=(base_file,)))["name"] == "base"


def test_repeated_flags_apply_in_order() -> None:
    values = merge_user_values(ValuesOptions(set_values=("a=1,b=1", "a=2")))
    assert values == {"a": 2, "b": 1}


def test_set_types_values_and_set_string_keeps_strings() -> None:
    typed = merge_user_values(ValuesOptions(set_values=("n=10,t=true,s=abc,z=null",)))
    assert typed == {"n": 10, "t": True, "s": "abc", "z": None}
    strings = merge_user_values(ValuesOptions(set_string=("n=10,t=true",)))
    assert strings == {"n": "10", "t": "true"}


def test_set_file_reads_the_file(tmp_path: Path) -> None:
    cert = write(tmp_path, "ca.pem", "-----BEGIN CERTIFICATE-----\nabc\n")
    values = merge_user_values(ValuesOptions(set_file=(f"tls.ca={cert}",)))
    assert values == {"tls": {"ca": "-----BEGIN CERTIFICATE-----\nabc\n"}}


def test_set_index_keeps_the_other_elements_from_the_file(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_values=("ports[1]=8443",))
    )
    assert values["ports"] == [80, 8443, 8080]


def test_set_list_literal_replaces_the_whole_list(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_values=("ports={9000}",))
    )
    assert values["ports"] == [9000]


def test_set_index_null_sets_null(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_values=("ports[0]=null",))
    )
    assert values["ports"] == [None, 443, 8080]


def test_set_path_merges_into_a_map_from_the_file(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_values=("resources.limits.cpu=1",))
    )
    assert values["resources"] == {"limits": {"cpu": 1, "memory": "64Mi"}}


def test_set_json_object_value_replaces_the_map(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_json=('resources={"limits":{"cpu":"2"}}',))
    )
    assert values["resources"] == {"limits": {"cpu": "2"}}


def test_set_json_whole_document_merges(base_file: str) -> None:
    values = merge_user_values(
        ValuesOptions(values_files=(base_file,), set_json=('{"resources":{"limits":{"cpu":"2"}}}',))
    )
    assert values["resources"] == {"limits": {"cpu": "2", "memory": "64Mi"}}


def test_set_path_through_a_string_fails_like_helm(base_file: str) -> None:
    with pytest.raises(ChartError, match=r"--set name\.first=x: cannot set name: .*string"):
        merge_user_values(ValuesOptions(values_files=(base_file,), set_values=("name.first=x",)))


def test_malformed_expression_is_a_chart_error() -> None:
    with pytest.raises(ChartError, match=r"--set a\.b"):
        merge_user_values(ValuesOptions(set_values=("a.b",)))
    with pytest.raises(ChartError, match="--set-json"):
        merge_user_values(ValuesOptions(set_json=("a={not json",)))


def test_values_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(ChartError, match=r"list\.yaml: document 1 is not a mapping"):
        merge_user_values(ValuesOptions(values_files=(path,)))


def test_values_file_invalid_yaml_and_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "a: [1\n")
    with pytest.raises(ChartError, match=r"bad\.yaml: invalid YAML"):
        merge_user_values(ValuesOptions(values_files=(path,)))
    with pytest.raises(ChartError, match=r"nope\.yaml: cannot read it"):
        merge_user_values(ValuesOptions(values_files=(str(tmp_path / "nope.yaml"),)))


def _helm_values(helm: Path, args: list[str], cwd: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(helm), "template", "r", str(CHARTS / "dump"), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "HELM_CONFIG_HOME": str(cwd / "cfg"), "HELM_CACHE_HOME": str(cwd)},
    ).stdout
    import yaml

    doc = yaml.safe_load(out.split("# Source: dump/templates/values.yaml\n", 1)[1])
    loaded: dict[str, Any] = json.loads(doc["data"]["json"])
    return loaded


FLAG_SETS = {
    "mixed": {
        "set_json": ('resources={"requests":{"cpu":"1"}}', 'extra.b=[1,{"c":2}]'),
        "set_values": ("ports[1]=22,image.tag=3.0", "list={x,y}", "name=null", "deep[2].k=v"),
        "set_string": ("image.tag=4.0,count=5",),
        "set_file": ("ports[3]=@content",),
    },
    "lists": {
        "set_json": ('{"extra":{"z":[1,2]},"matrix":[[1,2],[3]]}', "ports[5]=null"),
        "set_values": ("matrix[0][1]=9,matrix[1][2]=8", "nested[1][0]=a", "ports[0]=null"),
        "set_string": ("list[2]=s,resources.limits.cpu=2",),
    },
    "overrides": {
        "set_json": ('image={"name":"x"}', "extra.a=null"),
        "set_values": ("image.tag=5,list={}", "esc\\.dot=1,sp ace=2", "image.tag=6"),
        "set_string": ("image.pullPolicy=Always",),
        "set_file": ("image.digest=@content,extra.f=@content",),
    },
    "literal": {
        "set_values": ("image.tag=5", "ports[1]=7"),
        # Commas, quotes, braces and "=" stay in the value; the key still has a path.
        "set_literal": (
            "image.tag=a,b=c",
            'note={"x": 1}',
            "ports[2]=p,q",
            "extra.deep[1].k=v=w",
            "list[0]='quoted'",
            "name=null",
        ),
    },
}


@pytest.mark.parametrize("flags", list(FLAG_SETS))
def test_precedence_matches_the_helm_binary(
    helm_binary: Path, tmp_path: Path, base_file: str, flags: str
) -> None:
    """The same flags given to `helm template` and to helmguard give the same .Values."""
    second = write(tmp_path, "second.yaml", "ports: [1, 2, 3, 4]\nlist: [f1]\nextra: {a: 1}\n")
    content = write(tmp_path, "content.txt", "file-content")
    given = {
        key: tuple(expr.replace("@content", content) for expr in exprs)
        for key, exprs in FLAG_SETS[flags].items()
    }
    opts = ValuesOptions(values_files=(base_file, second), **given)
    args: list[str] = []
    for f in opts.values_files:
        args += ["-f", f]
    for flag, exprs in (
        ("--set-json", opts.set_json),
        ("--set", opts.set_values),
        ("--set-string", opts.set_string),
        ("--set-file", opts.set_file),
        ("--set-literal", opts.set_literal),
    ):
        for expr in exprs:
            args += [flag, expr]
    expected = _helm_values(helm_binary, args, tmp_path)
    rendered = render_chart(RenderRequest(chart=str(CHARTS / "dump"), values=opts))
    ours = json.loads(rendered.objects[0].body["data"]["json"])
    assert ours == expected
