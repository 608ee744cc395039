"""Helm's flags held to the helm binary: --skip-crds, and what a failed rollback records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chart.ociregistry import Registry, serve
from chartrepo import serve_repository, write_chart
from helmcli import Helm
from helmguard.chart.source import RepoAuth
from helmguard.cli import main
from helmguard.deploy.release import SYSTEM_LABELS
from helmguard.sandbox.cluster import Sandbox

CHARTS = Path(__file__).parent / "charts"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/sprockets.skipcrds.example.com"


@dataclass(frozen=True)
class Twins:
    """Twin releases: helm's in `theirs`, helmguard's in the test's namespace."""

    helm: Helm
    theirs: str


@pytest.fixture
def twins(helm: Helm, twin_namespace: str) -> Twins:
    """A helm client on the sandbox and a second namespace for its twin release."""
    return Twins(helm, twin_namespace)


def _cli(sandbox: Sandbox, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", str(sandbox.kubeconfig)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_skip_crds_installs_no_crd_with_helm_nor_helmguard(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(CHARTS / "crdful")
    helm, theirs = twins.helm, twins.theirs
    try:
        helm.run("install", "gear", chart, "-n", theirs, "--skip-crds")
        code, out = _cli(
            sandbox, "deploy", chart, "--release", "gear", "-n", namespace, "--skip-crds",
            "--no-store", "--timeout", "60s",
        )  # fmt: skip
        assert code == 0, out
        assert admin_http.get(CRD).status_code == 404
        for ns in (namespace, theirs):
            path = f"/api/v1/namespaces/{ns}/configmaps/gear-config"
            assert admin_http.get(path).status_code == 200
        # Without the flag the same chart does install it: the check above can fail.
        code, out = _cli(
            sandbox, "deploy", chart, "--release", "gear2", "-n", namespace,
            "--no-store", "--timeout", "60s",
        )  # fmt: skip
        assert code == 0, out
        assert admin_http.get(CRD).status_code == 200
    finally:
        admin_http.delete(CRD)


def _statuses(helm: Helm, name: str, namespace: str) -> list[tuple[int, str]]:
    history: list[dict[str, Any]] = helm.json("history", name, "-n", namespace)
    return [(h["revision"], h["status"]) for h in history]


def _leave_a_conflicting_frozen_map(admin_http: httpx.Client, namespace: str) -> None:
    """The ConfigMap revision 1 had, back with other data (another field manager's), immutable,
    carrying the release's ownership: the API server refuses re-applying revision 1."""
    body = {
        "metadata": {
            "name": "rb-frozen",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "rb",
                "meta.helm.sh/release-namespace": namespace,
            },
        },
        "immutable": True,
        "data": {"generation": "2"},
    }
    created = admin_http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body)
    assert created.status_code == 201, created.text


def test_a_failed_rollback_records_what_helm_records(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(CHARTS / "frozen")
    helm, theirs = twins.helm, twins.theirs
    for ns in (theirs, namespace):
        helm.run("install", "rb", chart, "-n", ns)
        helm.run("upgrade", "rb", chart, "-n", ns, "--set", "frozen=false")
        _leave_a_conflicting_frozen_map(admin_http, ns)
    failed = helm.run("rollback", "rb", "1", "-n", theirs, check=False)
    assert failed.returncode != 0 and "rb-frozen" in failed.stderr, failed.stderr
    code, out = _cli(
        sandbox, "rollback", "rb", "1", "-n", namespace, "--no-store", "--timeout", "60s"
    )
    assert code == 1 and "rb-frozen" in out, out
    expected = [(1, "superseded"), (2, "superseded"), (3, "failed")]
    assert _statuses(helm, "rb", theirs) == expected
    assert _statuses(helm, "rb", namespace) == expected


def test_a_rollback_failing_its_wait_keeps_the_latest_deployed_as_helm_does(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(Path(__file__).parents[1] / "sync" / "charts" / "helmsa")
    helm, theirs = twins.helm, twins.theirs
    for ns in (theirs, namespace):
        # Revision 1 runs as a ServiceAccount that does not exist; revision 2 as default.
        helm.run("install", "rw", chart, "-n", ns)
        helm.run("upgrade", "rw", chart, "-n", ns, "--set", "account=default")
    failed = helm.run(
        "rollback", "rw", "1", "-n", theirs, "--wait", "--timeout", "10s", check=False
    )
    assert failed.returncode != 0, failed.stderr
    code, out = _cli(
        sandbox, "rollback", "rw", "1", "-n", namespace, "--no-store", "--timeout", "60s"
    )
    assert code == 1 and "helmsa-runner" in out, out
    expected = [(1, "superseded"), (2, "deployed"), (3, "failed")]
    assert _statuses(helm, "rw", theirs) == expected
    assert _statuses(helm, "rw", namespace) == expected


def _records(admin_http: httpx.Client, namespace: str, name: str) -> list[str]:
    found = admin_http.get(
        f"/api/v1/namespaces/{namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={name}"},
    )
    found.raise_for_status()
    return sorted(s["metadata"]["name"] for s in found.json()["items"])


def test_install_upgrade_and_name_chart_arguments_as_helms(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    """`helmguard install|upgrade [-i]|deploy NAME CHART` refuse and proceed where helm does,
    on twin releases in two namespaces; a refusal writes nothing (no record, no store row)."""
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    db = str(tmp_path / "hg.db")
    common = ("--db", db, "--timeout", "60s")
    # upgrade without --install of a release that does not exist: both refuse.
    refused = helm.run("upgrade", "web", chart, "-n", theirs, check=False)
    assert refused.returncode == 1 and "has no deployed releases" in refused.stderr
    code, out = _cli(sandbox, "upgrade", "web", chart, "-n", namespace, *common)
    assert code == 1 and '"web" has no deployed releases' in out, out
    assert _records(admin_http, namespace, "web") == []
    # install NAME CHART, then install again: both refuse the name in use.
    helm.run("install", "web", chart, "-n", theirs)
    code, out = _cli(sandbox, "install", "web", chart, "-n", namespace, *common)
    assert code == 0, out
    refused = helm.run("install", "web", chart, "-n", theirs, check=False)
    assert refused.returncode == 1 and "cannot reuse a name" in refused.stderr
    code, out = _cli(sandbox, "install", "web", chart, "-n", namespace, *common)
    assert code == 1 and "cannot reuse a name that is still in use" in out, out
    assert _records(admin_http, namespace, "web") == ["sh.helm.release.v1.web.v1"]
    # upgrade NAME CHART, then CI's usual line, the same words for both (a bare --wait
    # takes no value, as pflag's NoOptDefVal, so NAME stays NAME): revisions 2 and 3.
    helm.run("upgrade", "web", chart, "-n", theirs, "--set", "greeting=hi")
    code, out = _cli(
        sandbox, "upgrade", "web", chart, "-n", namespace, "--set", "greeting=hi", *common
    )
    assert code == 0, out
    line = ("upgrade", "--install", "--wait", "web", chart)
    helm.run(*line, "-n", theirs)
    code, out = _cli(sandbox, *line, "-n", namespace, *common)
    assert code == 0, out
    assert _statuses(helm, "web", namespace) == _statuses(helm, "web", theirs)
    assert [s for _, s in _statuses(helm, "web", namespace)] == [
        "superseded",
        "superseded",
        "deployed",
    ]
    # After an uninstall that keeps history: upgrade refuses, upgrade --install installs.
    helm.run("uninstall", "web", "-n", theirs, "--keep-history")
    code, out = _cli(sandbox, "uninstall", "web", "-n", namespace, "--keep-history", "--db", db)
    assert code == 0, out
    refused = helm.run("upgrade", "web", chart, "-n", theirs, check=False)
    assert refused.returncode == 1 and "has no deployed releases" in refused.stderr
    code, out = _cli(sandbox, "upgrade", "web", chart, "-n", namespace, *common)
    assert code == 1 and "has no deployed releases" in out, out
    helm.run("upgrade", "-i", "web", chart, "-n", theirs)
    code, out = _cli(sandbox, "upgrade", "-i", "web", chart, "-n", namespace, *common)
    assert code == 0, out
    assert _statuses(helm, "web", namespace)[-1] == (4, "deployed")
    assert _statuses(helm, "web", theirs)[-1] == (4, "deployed")


def test_name_and_chart_arguments_bad_input(sandbox: Sandbox, namespace: str) -> None:
    chart = str(CHARTS / "interop")
    cases = {
        ("deploy", chart): "give the release a name",
        ("deploy", "a", chart, "--release", "b"): "the release is named twice",
        ("deploy", "a", chart, "extra"): "unexpected extra argument",
        ("deploy",): "Missing argument 'CHART'",
        ("upgrade", "a", chart, "--wait=sometimes"): "--wait=sometimes: use one of",
        ("deploy", "a", chart, "--wait", "--no-wait"): "--wait=watcher waits and --no-wait",
    }
    for args, said in cases.items():
        code, out = _cli(sandbox, *args, "-n", namespace, "--no-store")
        assert code == 2 and said in out, (args, out)
    # `render` keeps helm template's default name; NAME before CHART names it.
    unnamed = CliRunner().invoke(main, ["render", chart])
    assert unnamed.exit_code == 0 and "release-name-" in unnamed.output, unnamed.output
    named = CliRunner().invoke(main, ["render", "shop", chart])
    assert named.exit_code == 0 and "shop-" in named.output, named.output
    assert "release-name" not in named.output


def _marker(admin_http: httpx.Client, namespace: str, name: str) -> str | None:
    """The resourceVersion of the interop chart's post-install/-upgrade hook ConfigMap: a new
    one each time the hook runs (before-hook-creation), None before it first ran."""
    found = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}-marker")
    return None if found.status_code == 404 else str(found.json()["metadata"]["resourceVersion"])


def _without_revision(manifest: str) -> list[str]:
    return [line for line in manifest.splitlines() if not line.strip().startswith("revision:")]


def test_no_hooks_runs_no_hook_and_still_records_them_as_helm(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    common = ("--no-store", "--timeout", "60s")
    steps: list[tuple[str, ...]] = [("--no-hooks",), ("--set", "greeting=hi"), ("--no-hooks",)]
    markers: list[tuple[str | None, str | None]] = []
    for flags in steps:
        helm.run("upgrade", "--install", "nh", chart, "-n", theirs, *flags)
        code, out = _cli(sandbox, "deploy", "nh", chart, "-n", namespace, *flags, *common)
        assert code == 0, out
        markers.append((_marker(admin_http, theirs, "nh"), _marker(admin_http, namespace, "nh")))
    # Revision 1 ran no hook; 2 ran its post-upgrade hook; 3 did not (2's is left).
    assert markers[0] == (None, None)
    assert None not in markers[1] and markers[2] == markers[1]
    for revision in ("1", "3"):
        ours, helms = (
            helm.run("get", "hooks", "nh", "-n", ns, "--revision", revision).stdout
            for ns in (namespace, theirs)
        )
        assert "nh-marker" in ours
        # helmguard renders .Release.Revision as 1 on every deploy (a divergence of its
        # render, not of --no-hooks): the marker's revision line is left out.
        assert _without_revision(ours) == _without_revision(helms)
    assert _statuses(helm, "nh", namespace) == _statuses(helm, "nh", theirs)


def _exists(admin_http: httpx.Client, path: str) -> bool:
    found = admin_http.get(path)
    assert found.status_code in (200, 404), found.text
    return found.status_code == 200


def test_cleanup_on_fail_deletes_what_the_failed_upgrade_created_as_helm(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(Path(__file__).parents[1] / "sync" / "charts" / "helmsa")
    helm, theirs = twins.helm, twins.theirs
    # --force: past preflight, which refuses the missing ServiceAccount before any apply.
    common = ("--no-store", "--timeout", "30s", "--force")
    # The upgrade adds a ConfigMap and runs the Deployment as a ServiceAccount that does
    # not exist: its wait fails once the ConfigMap is created.
    failing = ("--set", "settings.extra=x", "--set", "account=helmsa-runner")
    for ns in (theirs, namespace):
        helm.run("install", "cu", chart, "-n", ns, "--set", "account=default")
    failed = helm.run(
        "upgrade", "cu", chart, "-n", theirs, *failing, "--cleanup-on-fail",
        "--wait", "--timeout", "10s", check=False,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    code, out = _cli(
        sandbox, "upgrade", "cu", chart, "-n", namespace, *failing, "--cleanup-on-fail",
        *common,
    )  # fmt: skip
    assert code == 1 and "helmsa-runner" in out, out
    for ns in (theirs, namespace):
        apps = f"/apis/apps/v1/namespaces/{ns}/deployments/cu-web"
        assert not _exists(admin_http, f"/api/v1/namespaces/{ns}/configmaps/cu-extra"), ns
        assert _exists(admin_http, apps), ns  # changed, not created: kept
    assert _statuses(helm, "cu", namespace) == _statuses(helm, "cu", theirs)
    assert _statuses(helm, "cu", namespace) == [(1, "deployed"), (2, "failed")]
    # Without the flag the failed upgrade's new ConfigMap stays: the check above can fail.
    code, out = _cli(sandbox, "upgrade", "cu", chart, "-n", namespace, *failing, *common)
    assert code == 1, out
    assert _exists(admin_http, f"/api/v1/namespaces/{namespace}/configmaps/cu-extra")


def _custom_labels(admin_http: httpx.Client, namespace: str, name: str) -> dict[str, Any]:
    """Each record's labels but helm's system ones, by record name."""
    found = admin_http.get(
        f"/api/v1/namespaces/{namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={name}"},
    )
    found.raise_for_status()
    return {
        s["metadata"]["name"]: {
            k: v for k, v in s["metadata"]["labels"].items() if k not in SYSTEM_LABELS
        }
        for s in found.json()["items"]
    }


def test_labels_go_on_the_release_records_and_merge_as_helms(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    common = ("--no-store", "--timeout", "60s")
    # Refused by both before anything is written: a system label, a pair without "=".
    for bad in ("owner=me", "team"):
        refused = helm.run("install", "lb", chart, "-n", theirs, "-l", bad, check=False)
        assert refused.returncode == 1, refused.stderr
        code, out = _cli(sandbox, "install", "lb", chart, "-n", namespace, "-l", bad, *common)
        assert code == 2 and "--labels" in out, out
    # ... and a label Kubernetes refuses: helm fails creating its record, helmguard first.
    refused = helm.run("install", "lb", chart, "-n", theirs, "-l", "team=a b", check=False)
    assert refused.returncode == 1 and "metadata.labels" in refused.stderr, refused.stderr
    code, out = _cli(sandbox, "install", "lb", chart, "-n", namespace, "-l", "team=a b", *common)
    assert code == 2 and "team=a b" in out, out
    assert _records(admin_http, namespace, "lb") == _records(admin_http, theirs, "lb") == []
    steps: list[tuple[str, ...]] = [
        ("install", "--labels", "team=a,tier=web", "-l", "env=dev"),
        ("upgrade", "-l", "tier=null,env=prod"),
        ("upgrade",),
    ]
    for command, *flags in steps:
        helm.run(command, "lb", chart, "-n", theirs, *flags)
        code, out = _cli(sandbox, command, "lb", chart, "-n", namespace, *flags, *common)
        assert code == 0, out
    ours = _custom_labels(admin_http, namespace, "lb")
    assert ours == _custom_labels(admin_http, theirs, "lb")
    assert ours["sh.helm.release.v1.lb.v3"] == {"team": "a", "env": "prod"}
    for ns in (namespace, theirs):
        found = helm.json("list", "-n", ns, "--selector", "team=a,env=prod")
        assert [r["name"] for r in found] == ["lb"], ns
        assert helm.json("list", "-n", ns, "--selector", "tier=web") == []


def test_an_install_after_an_atomic_first_install_removed_it_is_revision_1_as_helms(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(Path(__file__).parents[1] / "sync" / "charts" / "helmsa")
    helm, theirs = twins.helm, twins.theirs
    db = ("--db", str(tmp_path / "hg.db"))
    # The default ServiceAccount name does not exist: the wait fails and both remove all.
    failed = helm.run(
        "install", "ra", chart, "-n", theirs, "--rollback-on-failure", "--wait",
        "--timeout", "10s", check=False,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    code, out = _cli(
        sandbox, "install", "ra", chart, "-n", namespace, "--atomic", "--force", *db,
        "--timeout", "30s",
    )  # fmt: skip
    assert code == 1 and "the release records" in out, out
    assert _records(admin_http, namespace, "ra") == _records(admin_http, theirs, "ra") == []
    code, out = _cli(sandbox, "status", "ra", "-n", namespace, *db, "-o", "json")
    assert code == 0 and json.loads(out)["app"]["reason"] == "Uninstalled", out
    # The next install: revision 1 for both, and helmguard's store says the same.
    helm.run("install", "ra", chart, "-n", theirs, "--set", "account=default")
    code, out = _cli(
        sandbox, "install", "ra", chart, "-n", namespace, "--set", "account=default", *db
    )
    assert code == 0 and "revision 1 deployed" in out, out
    assert _statuses(helm, "ra", namespace) == _statuses(helm, "ra", theirs) == [(1, "deployed")]
    code, out = _cli(sandbox, "status", "ra", "-n", namespace, *db, "-o", "json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["last_revision"] == 1 and shown["app"]["state"] != "Missing", shown


def test_helms_connection_flags_connect_and_refuse_as_helms(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    pki = sandbox.kubeconfig.parent / "pki"
    cases: list[tuple[tuple[str, ...], bool]] = [
        (("--kube-as-user", "nobody"), False),  # impersonated: forbidden
        (("--kube-as-user", "somebody", "--kube-as-group", "system:masters"), True),
        (("--kube-apiserver", "https://127.0.0.1:1"), False),  # nothing listens there
        (("--kube-tls-server-name", "bogus.invalid"), False),  # not the certificate's name
        (("--kube-tls-server-name", "kubernetes.default"), True),
        (("--kube-ca-file", str(pki / "admin.crt")), False),  # did not sign the server's
        (("--kube-ca-file", str(pki / "ca.crt")), True),
        (("--kube-insecure-skip-tls-verify", "--kube-tls-server-name", "bogus.invalid"), True),
        (("--kube-token", "not-a-token"), True),  # the client certificate still goes
    ]
    for flags, works in cases:
        done = helm.run("upgrade", "--install", "kf", chart, "-n", theirs, *flags, check=False)
        code, out = _cli(
            sandbox, "deploy", "kf", chart, "-n", namespace, *flags, "--no-store",
            "--timeout", "30s",
        )  # fmt: skip
        assert (done.returncode == 0) == works, (flags, done.stderr)
        assert (code == 0) == works and code in (0, 1), (flags, out)
    assert _statuses(helm, "kf", namespace) == _statuses(helm, "kf", theirs)
    assert len(_statuses(helm, "kf", namespace)) == 5
    # What helm's client refuses, before connecting, is bad input here.
    for flags in (
        ("--kube-as-group", "system:masters"),
        ("--kube-insecure-skip-tls-verify", "--kube-ca-file", str(pki / "ca.crt")),
    ):
        done = helm.run("upgrade", "--install", "kf", chart, "-n", theirs, *flags, check=False)
        assert done.returncode == 1, (flags, done.stderr)
        code, out = _cli(sandbox, "deploy", "kf", chart, "-n", namespace, *flags, "--no-store")
        assert code == 2 and flags[0] in out, out


def _data(admin_http: httpx.Client, namespace: str, name: str) -> dict[str, str]:
    found = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    assert found.status_code == 200, found.text
    return dict(found.json().get("data") or {})


def _notes(helm: Helm, name: str, namespace: str) -> list[str]:
    """`helm get notes`' lines, sorted: helm joins a chart's NOTES in Go map order."""
    return sorted(helm.run("get", "notes", name, "-n", namespace).stdout.splitlines())


def test_schema_notes_and_dns_flags_render_as_helms(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, twins: Twins
) -> None:
    chart = str(CHARTS / "flagged")
    helm, theirs = twins.helm, twins.theirs
    common = ("--no-store", "--timeout", "60s")
    # The schema refuses a port that is not an integer: both refuse, nothing is written.
    refused = helm.run("install", "fl", chart, "-n", theirs, "--set", "port=many", check=False)
    assert refused.returncode == 1 and "got string, want integer" in refused.stderr
    code, out = _cli(sandbox, "install", "fl", chart, "-n", namespace, "--set", "port=many")
    assert code == 2 and "at '/port': got string, want integer" in out, out
    assert _records(admin_http, namespace, "fl") == _records(admin_http, theirs, "fl") == []
    flags = ("--set", "port=many", "--skip-schema-validation", "--render-subchart-notes")
    installed = helm.run("install", "fl", chart, "-n", theirs, *flags, "--enable-dns")
    code, out = _cli(
        sandbox, "install", "fl", chart, "-n", namespace, *flags, "--enable-dns", *common
    )
    assert code == 0, out
    for said in (installed.stdout, out):
        assert "NOTES:" in said and "aside-notes" in said and "flagged-notes" in said, said
    for ns in (namespace, theirs):
        assert _data(admin_http, ns, "fl-flagged") == {"port": "many", "host": "127.0.0.1"}, ns
    assert _notes(helm, "fl", namespace) == _notes(helm, "fl", theirs)
    assert any("aside-notes" in line for line in _notes(helm, "fl", namespace))
    # An upgrade without values reuses port=many: the schema, validated again, refuses it.
    refused = helm.run("upgrade", "fl", chart, "-n", theirs, check=False)
    assert refused.returncode == 1 and "got string, want integer" in refused.stderr
    code, out = _cli(sandbox, "upgrade", "fl", chart, "-n", namespace, *common)
    assert code == 2 and "got string, want integer" in out, out
    # Without the flags: the chart's NOTES only, not printed; getHostByName gives "".
    upgraded = helm.run("upgrade", "fl", chart, "-n", theirs, "--reset-values", "--hide-notes")
    code, out = _cli(
        sandbox, "upgrade", "fl", chart, "-n", namespace, "--reset-values", "--hide-notes",
        *common,
    )  # fmt: skip
    assert code == 0, out
    assert "NOTES:" not in upgraded.stdout and "NOTES:" not in out, out
    for ns in (namespace, theirs):
        assert _data(admin_http, ns, "fl-flagged") == {"port": "8080", "host": ""}, ns
        assert _notes(helm, "fl", ns) == ["", "NOTES:", "flagged-notes: fl listens on 8080."]
    assert _statuses(helm, "fl", namespace) == _statuses(helm, "fl", theirs)


def test_dependency_update_builds_a_missing_file_dependency_as_helm(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path, twins: Twins
) -> None:
    helm, theirs = twins.helm, twins.theirs
    charts = {}
    for who in ("helm", "helmguard"):  # a copy each: the update writes into the chart
        for name in ("depful", "depchild"):
            shutil.copytree(CHARTS / name, tmp_path / who / name)
        charts[who] = tmp_path / who / "depful"
    refused = helm.run("install", "dp", str(charts["helm"]), "-n", theirs, check=False)
    said = "found in Chart.yaml, but missing in charts/ directory: depchild"
    assert refused.returncode == 1 and said in refused.stderr, refused.stderr
    code, out = _cli(sandbox, "install", "dp", str(charts["helmguard"]), "-n", namespace)
    assert code == 2 and said in out, out
    assert _records(admin_http, namespace, "dp") == _records(admin_http, theirs, "dp") == []
    helm.run("install", "dp", str(charts["helm"]), "-n", theirs, "--dependency-update")
    code, out = _cli(
        sandbox, "install", "dp", str(charts["helmguard"]), "-n", namespace,
        "--dependency-update", "--no-store", "--timeout", "60s",
    )  # fmt: skip
    assert code == 0, out
    for ns in (namespace, theirs):
        assert _data(admin_http, ns, "dp-depchild") == {"from": "depchild"}, ns
    for chart in charts.values():
        assert sorted(p.name for p in (chart / "charts").iterdir()) == ["depchild-0.2.0.tgz"]
        assert (chart / "Chart.lock").is_file()
    assert _statuses(helm, "dp", namespace) == _statuses(helm, "dp", theirs)


def test_devel_picks_a_pre_release_from_a_repository_as_helm(
    sandbox: Sandbox, namespace: str, tmp_path: Path, twins: Twins
) -> None:
    helm, theirs = twins.helm, twins.theirs
    versions = (("0.1.0", "1.0"), ("0.2.0", "1.1"), ("0.3.0-beta.1", "1.2"))
    with serve_repository(tmp_path, versions=versions) as url:
        steps: list[tuple[str, ...]] = [
            (),  # the newest stable version
            ("--devel",),  # the newest, pre-releases too
            ("--devel", "--version", "0.1.0"),  # --version wins
        ]
        for flags in steps:
            args = ("webapp", "--repo", url, "--set", "serviceAccount.create=true", *flags)
            helm.run("upgrade", "--install", "dv", *args, "-n", theirs)
            code, out = _cli(
                sandbox, "deploy", "dv", *args, "-n", namespace, "--no-store", "--timeout", "60s"
            )
            assert code == 0, out
    charts = {
        ns: [h["chart"] for h in helm.json("history", "dv", "-n", ns)] for ns in (namespace, theirs)
    }
    assert charts[namespace] == charts[theirs], charts
    assert charts[namespace] == ["webapp-0.2.0", "webapp-0.3.0-beta.1", "webapp-0.1.0"]


def test_apply_mode_flags_as_helms_server_side_apply(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, twins: Twins
) -> None:
    """--server-side, --disable-openapi-validation: what helm 4.3.1 does applying server-side;
    what needs its client-side apply (--server-side=false, --force-replace) is refused."""
    chart = str(CHARTS / "strayfield")
    helm, theirs = twins.helm, twins.theirs
    # --force: past preflight's dry run, which finds the stray field before any apply.
    common = ("--no-store", "--timeout", "60s", "--force")
    steps: list[tuple[str, ...]] = [
        ("upgrade", "--install", "--set", "stray=false", "--server-side=auto"),
        # The flag does not let a field the schema lacks through server-side apply: both fail.
        ("upgrade", "--set", "stray=true", "--server-side", "true", "--disable-openapi-validation"),
        ("upgrade", "--set", "stray=false", "--server-side=true", "--disable-openapi-validation"),
    ]
    for command, *flags in steps:
        done = helm.run(command, "am", chart, "-n", theirs, *flags, check=False)
        code, out = _cli(sandbox, command, "am", chart, "-n", namespace, *flags, *common)
        if "stray=true" in flags:
            assert done.returncode == 1 and "field not declared in schema" in done.stderr
            assert code == 1 and "bogus: field not declared in schema" in out, out
        else:
            assert done.returncode == 0, done.stderr
            assert code == 0, out
    assert _statuses(helm, "am", namespace) == _statuses(helm, "am", theirs)
    assert _statuses(helm, "am", namespace) == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    for ns in (namespace, theirs):
        assert helm.json("get", "metadata", "am", "-n", ns)["applyMethod"] == "ssa", ns
        assert _data(admin_http, ns, "am-stray") == {"a": "b"}, ns
    # Refused before anything is written, naming the flag.
    for bad in ("--server-side=false", "--force-replace", "--server-side=bogus"):
        code, out = _cli(sandbox, "upgrade", "am", chart, "-n", namespace, bad, *common)
        assert code == 2 and bad.split("=")[0] in out, (bad, out)
    assert len(_statuses(helm, "am", namespace)) == 3
    refused = helm.run("upgrade", "am", chart, "-n", theirs, "--server-side=bogus", check=False)
    assert refused.returncode == 1 and "server-side apply method: bogus" in refused.stderr
    # helm itself replaces nothing applying server-side: that upgrade fails.
    failed = helm.run("upgrade", "am", chart, "-n", theirs, "--force-replace", check=False)
    assert "cannot use server-side apply and force replace together" in failed.stderr


def test_list_time_format_and_selector_print_what_helm_prints(
    sandbox: Sandbox, namespace: str, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    common = ("--no-store", "--timeout", "60s")
    steps: list[tuple[str, ...]] = [
        ("install", "la", "-l", "team=a,env=dev"),
        ("install", "lb", "-l", "team=b"),
        ("upgrade", "lb", "-l", "env=prod"),
    ]
    for command, name, *flags in steps:
        helm.run(command, name, chart, "-n", theirs, *flags)
        code, out = _cli(sandbox, command, name, chart, "-n", namespace, *flags, *common)
        assert code == 0, out
    layouts = (
        "2006-01-02",
        "Monday January _2 15:04:05.000 MST 2006",
        "Mon Jan 2 3:4:5 PM pm 06 01 02 03 04 05 .999999999 ,000000 Z07:00 -0700 Z07 -07:00:00",
        "__2 002 _2006 Z070000 -070000 .9 .0x 1 2 15",
    )
    cases: list[tuple[str, ...]] = [
        *(("--time-format", layout) for layout in layouts),
        ("-l", "team=a"),
        ("--selector", "status=superseded"),  # the latest revisions only: none is
        ("-l", "team!=a,env"),
        ("-l", "owner in (helm),!env", "--superseded"),
        ("-l", "env==prod", "-o", "json", "--time-format", "3:04PM"),
        ("-l", "team", "-o", "yaml", "--time-format", "Jan _2"),
        # go-yaml's quoting: a timestamp, a sexagesimal number, ": ", an indicator first.
        *(("-o", "yaml", "--time-format", t) for t in ("2006-01-02", "15:04", "Jan: 2", "@3")),
        ("-q", "-o", "yaml"),
        ("-l", "team=nobody", "-o", "yaml"),
        ("-l", "team=nobody", "-o", "json"),
    ]
    for ns in (namespace, theirs):
        for args in cases:
            helms = helm.run("list", "-n", ns, *args).stdout
            code, ours = _cli(sandbox, "list", "-n", ns, *args)
            assert code == 0 and ours == helms, (args, ours, helms)
    # What both cannot parse: refused, naming it.
    refused = helm.run("list", "-n", theirs, "-l", "=x", check=False)
    assert refused.returncode == 1, refused.stderr
    code, out = _cli(sandbox, "list", "-n", namespace, "-l", "=x")
    assert code == 2 and "'=x'" in out, out


def _ownership(admin_http: httpx.Client, namespace: str, name: str) -> dict[str, Any]:
    found = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    assert found.status_code == 200, found.text
    meta = found.json()["metadata"]
    return {
        "labels": {k: v for k, v in (meta.get("labels") or {}).items() if "managed-by" in k},
        "annotations": {
            k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("meta.helm")
        },
    }


def test_take_ownership_adopts_what_helm_adopts(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    common = ("--no-store", "--timeout", "60s")
    for ns in (namespace, theirs):
        # The chart's ConfigMap, there already: made by hand, and one another release owns.
        owner = {"meta.helm.sh/release-name": "someone", "meta.helm.sh/release-namespace": ns}
        for name, owned in (("to-config", {}), ("other-config", owner)):
            meta = {"name": name, "annotations": owned, "labels": {"app": "x"}}
            body = {"metadata": meta, "data": {"x": "y"}}
            made = admin_http.post(f"/api/v1/namespaces/{ns}/configmaps", json=body)
            assert made.status_code == 201, made.text
    for release in ("to", "other"):
        refused = helm.run("install", release, chart, "-n", theirs, check=False)
        assert refused.returncode == 1 and "invalid ownership metadata" in refused.stderr
        code, out = _cli(sandbox, "install", release, chart, "-n", namespace, *common)
        assert code == 1 and f"{release}-config" in out, out
        assert _records(admin_http, namespace, release) == []
        assert _records(admin_http, theirs, release) == []
        # Another manager's release-name annotation: server-side apply's conflict, for both.
        take = ("--take-ownership", *(("--force-conflicts",) if release == "other" else ()))
        if release == "other":
            failed = helm.run("install", release, chart, "-n", theirs, take[0], check=False)
            assert failed.returncode == 1 and "conflict with" in failed.stderr, failed.stderr
            code, out = _cli(sandbox, "install", release, chart, "-n", namespace, take[0], *common)
            assert code == 1 and "meta.helm.sh/release-name" in out, out
            assert _statuses(helm, release, namespace) == _statuses(helm, release, theirs)
        helm.run("upgrade", "--install", release, chart, "-n", theirs, *take)
        code, out = _cli(sandbox, "deploy", release, chart, "-n", namespace, *take, *common)
        assert code == 0, out
        ours, helms = (
            _ownership(admin_http, ns, f"{release}-config") for ns in (namespace, theirs)
        )
        assert ours["labels"] == helms["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
        assert ours["annotations"]["meta.helm.sh/release-name"] == release
        assert ours["annotations"] == {
            **helms["annotations"],
            "meta.helm.sh/release-namespace": namespace,
        }
        # Server-side apply, both: the fields the chart does not set stay, the hand-made "x".
        mine, helms_data = (
            _data(admin_http, ns, f"{release}-config") for ns in (namespace, theirs)
        )
        assert mine == helms_data and mine["x"] == "y" and mine["greeting"] == "hello", mine
    assert _statuses(helm, "to", namespace) == _statuses(helm, "to", theirs) == [(1, "deployed")]


def test_hide_secret_hides_the_dry_runs_secrets_as_helm(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, twins: Twins
) -> None:
    chart = str(CHARTS / "interop")
    helm, theirs = twins.helm, twins.theirs
    for hide in ((), ("--hide-secret",)):
        args = ("hs", chart, "--dry-run=client", *hide)
        shown = helm.run("upgrade", "--install", *args, "-n", theirs).stdout
        manifest = shown.split("MANIFEST:\n", 1)[1].split("\n\nNOTES:", 1)[0].strip()
        code, ours = _cli(sandbox, "deploy", *args, "-n", namespace)
        assert code == 0, ours
        assert ours.startswith(manifest + "\n---\n# Source: interop/templates/hook.yaml"), ours
        assert ("not-a-real-token" in ours) == (not hide), ours
    # Not without --dry-run: both refuse before anything is written.
    refused = helm.run(
        "upgrade", "--install", "hs", chart, "-n", theirs, "--hide-secret", check=False
    )
    assert refused.returncode == 1 and "requires a dry-run mode" in refused.stderr
    code, out = _cli(sandbox, "deploy", "hs", chart, "-n", namespace, "--hide-secret", "--no-store")
    assert code == 2 and "--hide-secret" in out, out
    assert _records(admin_http, namespace, "hs") == _records(admin_http, theirs, "hs") == []


def test_chart_repository_credentials_and_tls_flags_as_helms(
    sandbox: Sandbox, namespace: str, tmp_path: Path, twins: Twins
) -> None:
    helm, theirs = twins.helm, twins.theirs
    pki = sandbox.kubeconfig.parent / "pki"
    common = ("--no-store", "--timeout", "60s")
    chart = ("webapp", "--set", "serviceAccount.create=true")
    creds = ("--username", "ann", "--password", "s3cret")
    with serve_repository(tmp_path, basic=("ann", "s3cret"), pki=pki) as url:
        cases: list[tuple[tuple[str, ...], str]] = [
            ((), "certificate"),  # the repository's certificate is not signed by a known CA
            (("--ca-file", str(pki / "ca.crt")), "401"),  # trusted, but no credentials
            (("--ca-file", str(pki / "ca.crt"), "--username", "ann", "--password", "no"), "401"),
            (("--ca-file", str(pki / "ca.crt"), *creds), ""),
            (("--insecure-skip-tls-verify", *creds), ""),
        ]
        for flags, refusal in cases:
            args = ("dc", *chart, "--repo", url, *flags)
            done = helm.run("upgrade", "--install", *args, "-n", theirs, check=False)
            code, out = _cli(sandbox, "deploy", *args, "-n", namespace, *common)
            if refusal:
                assert done.returncode == 1 and refusal in done.stderr, (flags, done.stderr)
                assert code == 2 and refusal in out, (flags, out)
            else:
                assert done.returncode == 0, (flags, done.stderr)
                assert code == 0, (flags, out)
    assert _statuses(helm, "dc", namespace) == _statuses(helm, "dc", theirs)
    assert _statuses(helm, "dc", namespace) == [(1, "superseded"), (2, "deployed")]


def test_credentials_go_to_the_repositorys_host_only_unless_pass_credentials() -> None:
    auth = RepoAuth(username="ann", password="s3cret", token="t")
    repo = "https://charts.example:8443/stable"
    assert auth.for_url(repo, "https://charts.example:8443/stable/a-1.tgz") == auth
    for elsewhere in (
        "https://cdn.example/a-1.tgz",  # another host
        "https://charts.example/a-1.tgz",  # another port
        "http://charts.example:8443/a-1.tgz",  # another scheme
    ):
        stripped = auth.for_url(repo, elsewhere)
        assert (stripped.username, stripped.password, stripped.token) == ("", "", ""), elsewhere
        passed = RepoAuth(username="ann", password="s3cret", pass_credentials=True)
        assert passed.for_url(repo, elsewhere) == passed


def test_debug_shows_every_object_as_verbose(sandbox: Sandbox, namespace: str) -> None:
    """helm's global --debug (more output on stderr) is -v here: each object applied."""
    chart = str(CHARTS / "interop")
    common = ("-n", namespace, "--no-store", "--timeout", "60s")
    code, quiet = _cli(sandbox, "deploy", "dbg", chart, *common)
    assert code == 0 and f"created ConfigMap {namespace}/dbg-config" not in quiet, quiet
    for flag in ("--debug", "-v"):
        code, out = _cli(sandbox, "deploy", "dbg", chart, *common, flag)
        assert code == 0 and f"configured ConfigMap {namespace}/dbg-config" in out, out


def test_plain_http_pulls_an_oci_chart_as_helm(
    sandbox: Sandbox, namespace: str, tmp_path: Path, twins: Twins
) -> None:
    helm, theirs = twins.helm, twins.theirs
    registry = Registry()
    source = write_chart(tmp_path, "0.4.0", "2.0")
    packaged = helm.run("package", str(source), "-d", str(tmp_path))
    assert packaged.returncode == 0, packaged.stderr
    registry.add_chart("charts/webapp", tmp_path / "webapp-0.4.0.tgz", source / "Chart.yaml")
    with serve(registry) as host:
        args = (f"oci://{host}/charts/webapp", "--version", "0.4.0")
        values = ("--set", "serviceAccount.create=true")
        # helm speaks HTTPS to a registry unless told: an HTTP one fails (helmguard tries a
        # loopback registry over HTTP after HTTPS, see chart/source.py: not compared here).
        refused = helm.run("install", "op", *args, *values, "-n", theirs, check=False)
        assert refused.returncode == 1 and "TLS handshake" in refused.stderr, refused.stderr
        helm.run("install", "op", *args, *values, "-n", theirs, "--plain-http")
        code, out = _cli(
            sandbox, "install", "op", *args, *values, "-n", namespace, "--plain-http",
            "--no-store", "--timeout", "60s",
        )  # fmt: skip
        assert code == 0, out
    charts = [
        [h["chart"] for h in helm.json("history", "op", "-n", ns)] for ns in (namespace, theirs)
    ]
    assert charts == [["webapp-0.4.0"], ["webapp-0.4.0"]]


@pytest.fixture
def keyrings() -> Iterator[tuple[Path, Path, Path]]:
    """A signing key made by gpg: (secret keyring, its public keyring, another key's public
    keyring), in a GNUPGHOME whose agent is stopped after."""
    home = Path(tempfile.mkdtemp(prefix="hg-gpg-"))  # short: the agent's socket lives there
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        for name in ("Chart Signer", "Someone Else"):
            params = f"%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: {name}\n"
            made = subprocess.run(
                ["gpg", "--batch", "--gen-key"], input=params + "%commit\n", env=env,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
        for path, args in (
            ("secring.gpg", ["--export-secret-keys", "Chart Signer"]),
            ("pubring.gpg", ["--export", "Chart Signer"]),
            ("other.gpg", ["--export", "Someone Else"]),
        ):
            exported = subprocess.run(["gpg", *args], env=env, capture_output=True, check=True)
            (home / path).write_bytes(exported.stdout)
        yield home / "secring.gpg", home / "pubring.gpg", home / "other.gpg"
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_verify_checks_a_charts_provenance_as_helm(
    sandbox: Sandbox,
    namespace: str,
    admin_http: httpx.Client,
    tmp_path: Path,
    twins: Twins,
    keyrings: tuple[Path, Path, Path],
) -> None:
    helm, theirs = twins.helm, twins.theirs
    secret, public, other = keyrings
    signed, unsigned = tmp_path / "signed", tmp_path / "unsigned"
    chart = CHARTS / "interop"
    helm.run("package", str(chart), "-d", str(signed), "--sign", "--key", "Chart Signer",
             "--keyring", str(secret))  # fmt: skip
    helm.run("package", str(chart), "-d", str(unsigned))
    archive = "interop-1.2.0.tgz"
    common = ("--no-store", "--timeout", "60s")
    refused: list[tuple[str, ...]] = [
        (str(unsigned / archive), "--verify", "--keyring", str(public)),  # no .prov
        (str(signed / archive), "--verify", "--keyring", str(other)),  # not signed by its keys
        (str(chart), "--verify", "--keyring", str(public)),  # a directory
    ]
    for args in refused:
        done = helm.run("install", "vf", *args, "-n", theirs, check=False)
        code, out = _cli(sandbox, "install", "vf", *args, "-n", namespace, *common)
        assert done.returncode == 1, (args, done.stderr)
        assert code == 2 and "--verify" in out, (args, out)
    assert _records(admin_http, namespace, "vf") == _records(admin_http, theirs, "vf") == []
    args = (str(signed / archive), "--verify", "--keyring", str(public))
    helm.run("install", "vf", *args, "-n", theirs)
    code, out = _cli(sandbox, "install", "vf", *args, "-n", namespace, *common)
    assert code == 0, out
    assert _statuses(helm, "vf", namespace) == _statuses(helm, "vf", theirs) == [(1, "deployed")]


def test_cert_file_and_key_file_present_a_client_certificate_as_helm(
    sandbox: Sandbox, namespace: str, tmp_path: Path, twins: Twins
) -> None:
    helm, theirs = twins.helm, twins.theirs
    pki = sandbox.kubeconfig.parent / "pki"
    trusted = ("--ca-file", str(pki / "ca.crt"))
    client = ("--cert-file", str(pki / "admin.crt"), "--key-file", str(pki / "admin.key"))
    with serve_repository(tmp_path, pki=pki, client_certificates=True) as url:
        chart = ("cf", "webapp", "--repo", url, "--set", "serviceAccount.create=true")
        for flags, works in ((trusted, False), ((*trusted, *client), True)):
            done = helm.run("upgrade", "--install", *chart, *flags, "-n", theirs, check=False)
            code, out = _cli(
                sandbox, "deploy", *chart, *flags, "-n", namespace, "--no-store", "--timeout", "60s"
            )
            assert (done.returncode == 0) == works, (flags, done.stderr)
            assert code == (0 if works else 2), (flags, out)
    assert _statuses(helm, "cf", namespace) == _statuses(helm, "cf", theirs) == [(1, "deployed")]
