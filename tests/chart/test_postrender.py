"""--post-renderer: helm v4 (through a postrenderer plugin) and helmguard (the executable
itself) put the same objects on the cluster; a missing, non-executable or failing
post-renderer is exit 2 with nothing written."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.chart.postrender import (
    FILENAME_ANNOTATION,
    annotate_and_merge,
    split_and_deannotate,
)
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox

CHART = Path(__file__).parents[1] / "deploy" / "charts" / "diffable"

# Labels every object with its argument, drops the Service, adds a ConfigMap of its own
# (no filename annotation: Helm files it as generated-by-postrender-<i>.yaml).
SCRIPT = f"""#!{sys.executable}
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
out = []
for doc in docs:
    if doc["kind"] == "Service":
        continue
    tint = sys.argv[1] if len(sys.argv) > 1 else "none"
    doc["metadata"].setdefault("labels", {{}})["tint"] = tint
    out.append(doc)
out.append({{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "extra"}},
            "data": {{"from": "post-renderer"}}}})
yaml.safe_dump_all(out, sys.stdout)
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_annotate_merge_and_split_round_trip_keeps_each_template() -> None:
    files = {
        "c/templates/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
        "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        "c/templates/_helpers.tpl": '{{- define "x" -}}{{- end -}}',
        "c/templates/empty.yaml": "\n",
    }
    merged = annotate_and_merge(files)
    assert merged.count(f"{FILENAME_ANNOTATION}: c/templates/a.yaml") == 2
    assert "_helpers" not in merged and "empty.yaml" not in merged
    back = split_and_deannotate(
        merged + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
    )
    assert sorted(back) == ["c/templates/a.yaml", "generated-by-postrender-2.yaml"]
    assert FILENAME_ANNOTATION not in "".join(back.values())
    assert "annotations" not in back["c/templates/a.yaml"]


def _objects(admin_http: httpx.Client, namespace: str) -> dict[tuple[str, str], Any]:
    """The chart's kinds in `namespace`: (kind, name) -> (labels, data), as compared."""
    found: dict[tuple[str, str], Any] = {}
    for kind, plural in (
        ("ConfigMap", "configmaps"),
        ("Secret", "secrets"),
        ("Service", "services"),
    ):
        for item in admin_http.get(f"/api/v1/namespaces/{namespace}/{plural}").json()["items"]:
            meta = item["metadata"]
            if meta["name"] == "kube-root-ca.crt" or meta["name"].startswith("sh.helm."):
                continue
            labels = dict(meta.get("labels") or {})
            labels.pop("app.kubernetes.io/managed-by", None)  # helm labels every object so
            found[(kind, meta["name"])] = (labels, item.get("data"))
    return found


def _deploy(sandbox: Sandbox, namespace: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "deploy", str(CHART), "--release", "shop", "-n", namespace, "--no-store",
            "--no-wait", "--kubeconfig", str(sandbox.kubeconfig), *args,
        ],
    )  # fmt: skip
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_helm_and_helmguard_post_render_to_the_same_objects(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    script = _executable(tmp_path / "tint.py", SCRIPT)
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    plugin = tmp_path / "helm" / "data" / "plugins" / "tint"
    plugin.mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(
        "name: tint\nversion: 0.1.0\ntype: postrenderer/v1\napiVersion: v1\n"
        f"runtime: subprocess\nruntimeConfig:\n  platformCommand:\n  - command: {script}\n"
    )
    theirs = f"{namespace}-h"
    assert admin_http.post("/api/v1/namespaces", json={"metadata": {"name": theirs}}).is_success
    try:
        helm.run(
            "install", "shop", str(CHART), "-n", theirs,
            "--post-renderer", "tint", "--post-renderer-args", "green",
        )  # fmt: skip
        code, err = _deploy(
            sandbox, namespace, "--post-renderer", str(script), "--post-renderer-args", "green"
        )
        assert code == 0, err
        by_helm, by_helmguard = _objects(admin_http, theirs), _objects(admin_http, namespace)
        assert by_helmguard == by_helm
        assert set(by_helmguard) == {
            ("ConfigMap", "shop-settings"),
            ("ConfigMap", "extra"),
            ("Secret", "shop-credentials"),
        }
        chart_objects = [("ConfigMap", "shop-settings"), ("Secret", "shop-credentials")]
        assert all(by_helmguard[key][0]["tint"] == "green" for key in chart_objects)
        # Both recorded the post-rendered manifest, the generated document under Helm's name.
        for ns in (namespace, theirs):
            manifest = helm.run("get", "manifest", "shop", "-n", ns).stdout
            assert "# Source: generated-by-postrender-" in manifest and "tint: green" in manifest
            assert "kind: Service" not in manifest
    finally:
        admin_http.delete(f"/api/v1/namespaces/{theirs}")


def test_post_renderer_bad_input_exits_2_and_writes_nothing(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "renderer"
    code, err = _deploy(sandbox, namespace, "--post-renderer", str(missing))
    assert code == 2 and f"post-renderer '{missing}' does not exist" in err, err
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\ncat\n")
    code, err = _deploy(sandbox, namespace, "--post-renderer", str(plain))
    assert code == 2 and "is not an executable file" in err, err
    failing = _executable(
        tmp_path / "fail.sh", "#!/bin/sh\necho 'kustomize: no base' >&2\nexit 3\n"
    )
    code, err = _deploy(sandbox, namespace, "--post-renderer", str(failing))
    assert code == 2 and "failed (exit 3): kustomize: no base" in err, err
    empty = _executable(tmp_path / "empty.sh", "#!/bin/sh\ncat >/dev/null\n")
    code, err = _deploy(sandbox, namespace, "--post-renderer", str(empty))
    assert code == 2 and "produced empty output" in err, err
    code, err = _deploy(sandbox, namespace, "--post-renderer-args", "x")
    assert code == 2 and "--post-renderer-args needs --post-renderer" in err, err
    code, err = _deploy(sandbox, namespace, "--post-renderer", str(failing), "--renderer", "helm")
    assert code == 2 and "--renderer sdk" in err, err
    assert _objects(admin_http, namespace) == {}
    records = admin_http.get(f"/api/v1/namespaces/{namespace}/secrets").json()["items"]
    assert not [s for s in records if s["metadata"]["name"].startswith("sh.helm.release")]
