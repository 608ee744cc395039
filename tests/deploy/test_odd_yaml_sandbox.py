"""A chart of odd YAML deploys with helmguard to exactly what `helm install` creates.

tests/chart/charts/oddyaml holds the YAML PyYAML and Go read differently (0o644, y/on,
1e3, 08, 22:00, dates, `=`, merges, duplicate anchors, !!binary, unknown tags, integer
keys, crds/ with YAMLReader separators and a JSON file). helmguard installs it in one
namespace, the real helm binary in another; the objects the API server holds must match.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from helmguard.chart.helm_binary import find_helm
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace

CHART = Path(__file__).parents[1] / "chart" / "charts" / "oddyaml"
CRDS = ("widgets", "gizmos", "gadgets")
OBJECTS = (
    "apis/oddyaml.example.com/v1/namespaces/{ns}/widgets/odd-odd",
    "api/v1/namespaces/{ns}/configmaps/odd-tcp",
    "api/v1/namespaces/{ns}/secrets/odd-creds",
    "apis/apps/v1/namespaces/{ns}/deployments/odd-web",
)


@pytest.fixture
def helm_namespace(admin_http: httpx.Client) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    create_namespace(admin_http, name)
    yield name
    delete_namespace(admin_http, name)


@pytest.fixture
def no_odd_crds(admin_http: httpx.Client) -> Iterator[None]:
    yield
    for crd in CRDS:
        admin_http.delete(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}.oddyaml.example.com"
        )


def _content(admin_http: httpx.Client, path: str, namespace: str) -> str:
    """What the object holds (server defaults included), as sorted JSON text."""
    response = admin_http.get("/" + path.format(ns=namespace))
    response.raise_for_status()
    body = {k: v for k, v in response.json().items() if k not in ("metadata", "status")}
    return json.dumps(body, sort_keys=True)


def test_odd_yaml_deploys_to_what_helm_installs(
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    helm_namespace: str,
    no_odd_crds: None,
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "deploy",
            str(CHART),
            "--release",
            "odd",
            "-n",
            namespace,
            "--kubeconfig",
            str(sandbox.kubeconfig),
            "--db",
            str(tmp_path / "db.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    env = {
        **os.environ,
        **{f"HELM_{d}_HOME": str(tmp_path / d) for d in ("CACHE", "CONFIG", "DATA")},
    }
    subprocess.run(
        [
            str(find_helm()),
            "install",
            "odd",
            str(CHART),
            "-n",
            helm_namespace,
            "--kubeconfig",
            str(sandbox.kubeconfig),
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    for path in OBJECTS:
        helms = _content(admin_http, path, helm_namespace).replace(helm_namespace, namespace)
        assert _content(admin_http, path, namespace) == helms, path
    widget = json.loads(_content(admin_http, OBJECTS[0], namespace))["spec"]
    assert widget["numbers"]["octal"] == 420 and widget["text"]["date"] == "2024-01-15"
