"""Rendered objects are what Go reads from `helm template`'s output, on a chart of odd YAML.

The oddyaml chart holds YAML that PyYAML and Go read differently (YAML 1.1 booleans,
0o644, 1e3, 08, 22:00, dates, `=`, merges, duplicate anchors, `\\'`, !!binary, unknown
tags, integer and float keys, crds/ with YAMLReader separators and a JSON file). Its
objects from helmguard's render must equal what Go (tools/yamlref: Helm's split and
sigs.k8s.io/yaml) reads from the real helm binary's `helm template --include-crds`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helmguard.chart.render import RenderRequest, render_chart, template_output
from helmguard.chart.source import ChartError
from yamlref import go_documents, yamlref_binary

from .conftest import CHARTS

CHART = CHARTS / "oddyaml"
NAMESPACE = "ns1"


@pytest.fixture(scope="module")
def yamlref() -> Path:
    return yamlref_binary()


def _objects(renderer: str) -> list[Any]:
    rendered = render_chart(
        RenderRequest(chart=str(CHART), release="odd", namespace=NAMESPACE, renderer=renderer)
    )
    bodies = [
        *(o.body for o in rendered.crds),
        *(o.body for o in rendered.objects),
        *(h.obj.body for h in rendered.hooks),
    ]
    return sorted(json.dumps(b, sort_keys=True) for b in bodies)


def _go(yamlref: Path, text: str) -> list[Any]:
    docs = go_documents(yamlref, "helm", text.encode())
    assert all(isinstance(d, dict) for d in docs), docs
    return sorted(json.dumps(d, sort_keys=True) for d in docs)


@pytest.mark.parametrize("renderer", ["sdk", "helm"])
def test_render_objects_equal_helm_template_as_go_reads_them(
    helm_binary: Path, yamlref: Path, renderer: str
) -> None:
    helm = subprocess.run(
        [str(helm_binary), "template", "odd", str(CHART), "-n", NAMESPACE, "--include-crds"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = _go(yamlref, helm)
    assert len(expected) == 8  # 3 CRDs, ConfigMap, Secret, Deployment, Widget, hook
    assert _objects(renderer) == expected


def test_render_output_reads_back_as_the_objects(yamlref: Path) -> None:
    """Without a helm binary too: helmguard's own `render` text, read by Go, is its objects."""
    rendered = render_chart(RenderRequest(chart=str(CHART), release="odd", namespace=NAMESPACE))
    assert _go(yamlref, template_output(rendered, include_crds=True)) == _objects("sdk")


def test_odd_scalars_reach_the_objects_as_go_reads_them() -> None:
    rendered = render_chart(RenderRequest(chart=str(CHART), release="odd", namespace=NAMESPACE))
    widget = next(o for o in rendered.objects if o.kind == "Widget").body["spec"]
    assert widget["booleans"] == [True, False, True, False, True, False, True, False]
    assert widget["numbers"]["octal"] == widget["numbers"]["legacyOctal"] == 420
    assert widget["numbers"]["notOctal"] == 8 and widget["numbers"]["exponent"] == 1000
    assert widget["text"] == {
        "sexagesimal": "22:00",
        "date": "2024-01-15",
        "badDate": "2024-02-30",
        "stamp": "2001-12-14t21:59:43.10-05:00",
        "equals": "=",
        "merge": "<<",
        "ref": "some-resource",
    }
    assert widget["keys"] == {"1": "one", "true": True, "1.5": "float", "16": "sixteen"}
    tcp = next(o for o in rendered.objects if o.kind == "ConfigMap").body["data"]
    assert tcp == {"9000": "ns1/db:5432", "9001": "ns1/cache:6379", "8080": "ns1/web:80"}
    crd = next(c for c in rendered.crds if c.name == "widgets.oddyaml.example.com").body
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"]["properties"]["matchers"]["items"]["properties"]["op"][
        "enum"
    ] == ["=", "!=", "=~", "!~"]


def _utf8_chart(root: Path, template: bytes, crd: bytes = b"", notes: bytes = b"") -> Path:
    chart = root / "bytes"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bytes\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_bytes(template)
    if crd:
        (chart / "crds").mkdir()
        (chart / "crds" / "crd.yaml").write_bytes(crd)
    if notes:
        (chart / "templates" / "NOTES.txt").write_bytes(notes)
    return chart


_CONFIGMAP = b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  x: "%s"\n'


@pytest.mark.parametrize("renderer", ["sdk", "helm"])
def test_bytes_that_are_not_utf8_are_refused_as_helm_refuses_them(
    helm_binary: Path, tmp_path: Path, renderer: str
) -> None:
    chart = _utf8_chart(tmp_path, _CONFIGMAP % b"caf\xe9")
    helm = subprocess.run(
        [str(helm_binary), "template", "r", str(chart)], capture_output=True, check=False
    )
    assert helm.returncode == 1 and b"invalid trailing UTF-8 octet" in helm.stderr
    with pytest.raises(ChartError, match=r"bytes/templates/cm\.yaml.*UTF-8"):
        render_chart(RenderRequest(chart=str(chart), release="r", namespace="n", renderer=renderer))


def test_a_real_replacement_character_and_bytes_in_notes_render(
    helm_binary: Path, tmp_path: Path
) -> None:
    chart = _utf8_chart(tmp_path, _CONFIGMAP % "\ufffd \\\\ufffd".encode(), notes=b"x \xff\n")
    assert (
        subprocess.run([str(helm_binary), "template", "r", str(chart)], check=False).returncode == 0
    )
    rendered = render_chart(RenderRequest(chart=str(chart), release="r", namespace="n"))
    assert rendered.objects[0].body["data"] == {"x": "\ufffd \\ufffd"}
    assert rendered.notes.strip() == "x \ufffd"


def test_a_crd_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    crd = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
    chart = _utf8_chart(tmp_path, _CONFIGMAP % b"ok", crd=crd + b"  name: \xff\n")
    with pytest.raises(ChartError, match=r"crd\.yaml.*line 4.*UTF-8"):
        render_chart(RenderRequest(chart=str(chart), release="r", namespace="n"))
