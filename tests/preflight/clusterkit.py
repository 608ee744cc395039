"""Helpers for the cluster check tests: charts written on the fly, a Kube per context."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import httpx

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.preflight.check import check_cluster
from helmguard.preflight.findings import Finding
from helmguard.preflight.report import Report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED = EXAMPLES / "vault-seed"


def write_chart(root: Path, name: str, templates: dict[str, str], values: str = "") -> Path:
    """A chart directory with the given templates (dedented)."""
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    for file, text in templates.items():
        (chart / "templates" / file).write_text(textwrap.dedent(text))
    return chart


async def kube_for(sandbox: Any, context: str | None = None) -> Kube:
    return await connect_config(load_config(sandbox.kubeconfig, context or sandbox.admin_context))


def run_check(
    sandbox: Any,
    chart: Path,
    namespace: str,
    *,
    release: str = "r1",
    context: str | None = None,
    set_values: tuple[str, ...] = (),
    **kw: Any,
) -> Report:
    request = RenderRequest(
        chart=str(chart),
        release=release,
        namespace=namespace,
        values=ValuesOptions(set_values=set_values),
    )

    async def go() -> Report:
        async with await kube_for(sandbox, context) as kube:
            return await check_cluster(request, kube=kube, **kw)

    return asyncio.run(go())


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def only(report: Report, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, [(f.code, f.object, f.message) for f in report.findings]
    return found[0]


def names_in(api: httpx.Client, namespace: str, plural: str, group: str = "") -> set[str]:
    """Names of the objects of a resource in a namespace (to prove nothing was written)."""
    root = f"/apis/{group}/v1" if group else "/api/v1"
    answer = api.get(f"{root}/namespaces/{namespace}/{plural}")
    assert answer.status_code == 200, answer.text
    return {i["metadata"]["name"] for i in answer.json()["items"]}


def assert_nothing_created(api: httpx.Client, namespace: str) -> None:
    assert names_in(api, namespace, "configmaps") <= {"kube-root-ca.crt"}
    assert names_in(api, namespace, "serviceaccounts") <= {"default"}
    assert names_in(api, namespace, "services") == set()
    assert names_in(api, namespace, "secrets") == set()
    assert names_in(api, namespace, "pods") == set()
    assert names_in(api, namespace, "deployments", "apps") == set()
