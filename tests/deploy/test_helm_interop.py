"""helm and helmguard on the same releases, both ways, with the helm binary `sandbox build` made.

helmguard's records are read by Helm's own code (the helm binary, and helm-python-sdk's
Config.history/status); releases helm installed are upgraded, rolled back and
uninstalled by helmguard; a pending revision of one makes the other refuse.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.chart.render import RenderRequest, release_manifest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.cli import main
from helmguard.deploy import DeployOptions, LogRecord, deploy
from helmguard.deploy.apply import helm_base
from helmguard.deploy.history import ReleaseBusy
from helmguard.deploy.release import decode_record
from helmguard.deploy.rollback import rollback
from helmguard.deploy.uninstall import uninstall
from helmguard.sandbox.cluster import Sandbox

CHART = Path(__file__).parent / "charts" / "interop"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    return helm_binary()


@pytest.fixture
def options(sandbox: Sandbox) -> DeployOptions:
    return DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90)


def _request(release: str, namespace: str, *sets: str) -> RenderRequest:
    return RenderRequest(
        str(CHART), release=release, namespace=namespace, values=ValuesOptions(set_values=sets)
    )


def _cli(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, [*args, "--kubeconfig", str(sandbox.kubeconfig)], env=env or {}
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _without_modtimes(chart: dict[str, Any]) -> dict[str, Any]:
    """A chart's JSON without file modification times (helm records them, helmguard not)."""
    out = {k: v for k, v in chart.items() if k not in ("modtime", "schemamodtime")}
    for key in ("templates", "files"):
        out[key] = sorted(
            ({k: v for k, v in f.items() if k != "modtime"} for f in chart.get(key) or ()),
            key=lambda f: str(f["name"]),
        )
    return out


async def _acli(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    """The CLI from an async test: in a thread, as it runs its own event loop."""
    return await asyncio.to_thread(_cli, sandbox, *args)


def _cells(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("\t")] for line in table.splitlines()]


def _api(admin_http: httpx.Client, path: str, selector: str = "") -> httpx.Response:
    params = {"labelSelector": selector} if selector else None
    return admin_http.get(path, params=params)


def _post(admin_http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin_http.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _apply(
    admin_http: httpx.Client, path: str, body: dict[str, Any], manager: str
) -> dict[str, Any]:
    response = admin_http.patch(
        path,
        content=json.dumps(body),
        params={"fieldManager": manager},
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert response.status_code in (200, 201), response.text
    applied: dict[str, Any] = response.json()
    return applied


def _items(admin_http: httpx.Client, path: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _api(admin_http, path, selector).json()["items"]
    return items


def _config(admin_http: httpx.Client, namespace: str, name: str) -> dict[str, Any]:
    response = _api(admin_http, f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_helm_reads_and_operates_a_release_helmguard_installed(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    first = await deploy(_request("hg", namespace, "greeting=hey"), options)
    assert first.outcome == "deployed", first.message

    listed = helm.json("list", "-n", namespace)
    assert [{k: r[k] for k in r if k != "updated"} for r in listed] == [
        {
            "name": "hg",
            "namespace": namespace,
            "revision": "1",
            "status": "deployed",
            "chart": "interop-1.2.0",
            "app_version": "4.5",
        }
    ]
    code, out, err = await _acli(sandbox, "list", "-n", namespace, "-o", "json")
    assert code == 0, err
    assert json.loads(out) == listed  # the same line, `updated` included
    assert helm.json("get", "values", "hg", "-n", namespace) == {"greeting": "hey"}
    manifest = helm.run("get", "manifest", "hg", "-n", namespace).stdout
    rendered = render_chart(_request("hg", namespace, "greeting=hey"))
    assert manifest == release_manifest(rendered) + "\n"  # helm get manifest adds a newline
    status = helm.json("status", "hg", "-n", namespace)
    assert status["info"]["status"] == "deployed"
    assert status["info"]["description"] == "Install complete"
    assert status["info"]["notes"] == "hg says hey.\n"

    # Helm's SDK (its storage code in-process) reads the same record.
    import helm_python

    with helm_python.Config(kubeconfig_path=sandbox.kubeconfig, namespace=namespace) as cfg:
        sdk_history = cfg.history("hg")
        sdk_status = cfg.status("hg")
    assert [(r["revision"], r["status"], r["chart_name"]) for r in sdk_history] == [
        (1, "deployed", "interop")
    ]
    assert sdk_status["notes"] == "hg says hey.\n" and sdk_status["app_version"] == "4.5"
    with helm_python.Config(kubeconfig_path=sandbox.kubeconfig, namespace=namespace) as cfg:
        assert cfg.get_values("hg") == {"greeting": "hey"}

    second = await deploy(_request("hg", namespace, "greeting=second"), options)
    assert second.outcome == "deployed" and second.revision == 2, second.message
    history = helm.json("history", "hg", "-n", namespace)
    assert [(h["revision"], h["status"], h["description"]) for h in history] == [
        (1, "superseded", "Install complete"),
        (2, "deployed", "Upgrade complete"),
    ]
    code, out, err = await _acli(sandbox, "history", "hg", "-n", namespace, "-o", "json")
    assert code == 0, err
    assert json.loads(out) == history
    # The table too, cell for cell (helm pads with spaces and tabs; the cells are the same).
    code, out, err = await _acli(sandbox, "history", "hg", "-n", namespace)
    assert code == 0, err
    assert _cells(out) == _cells(helm.run("history", "hg", "-n", namespace).stdout)

    helm.run("rollback", "hg", "1", "-n", namespace, "--wait")
    assert _config(admin_http, namespace, "hg-config")["data"]["greeting"] == "hey"
    history = helm.json("history", "hg", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    # helmguard upgrades on top of the revision helm wrote (its inventory: the manifest).
    third = await deploy(_request("hg", namespace, "greeting=fourth"), options)
    assert third.outcome == "deployed" and third.revision == 4, third.message
    code, out, _ = await _acli(
        sandbox, "get", "values", "hg", "-n", namespace, "--revision", "3", "-o", "json"
    )
    assert code == 0 and json.loads(out) == {"greeting": "hey"}

    helm.run("uninstall", "hg", "-n", namespace, "--wait")
    gone = _api(admin_http, f"/api/v1/namespaces/{namespace}/configmaps/hg-config")
    assert gone.status_code == 404
    secrets = _items(admin_http, f"/api/v1/namespaces/{namespace}/secrets", "owner=helm")
    assert secrets == []


async def test_helmguard_upgrades_rolls_back_and_uninstalls_a_helm_release(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    helm.run("install", "hi", str(CHART), "-n", namespace, "--set", "greeting=one", "--wait")
    # What helm stored is what helmguard stores for the same render (differential).
    rendered = render_chart(_request("hi", namespace, "greeting=one"))
    assert helm.run("get", "manifest", "hi", "-n", namespace).stdout == (
        release_manifest(rendered) + "\n"
    )
    theirs = decode_record(
        _api(admin_http, f"/api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.hi.v1").json()
    )
    assert not theirs.facts and theirs.config == {"greeting": "one"}
    assert _without_modtimes(theirs.helm["chart"]) == _without_modtimes(dict(rendered.chart_json))
    assert theirs.helm["hooks"][0]["manifest"] == helm_base(rendered)["hooks"][0]["manifest"]
    upgraded = await deploy(_request("hi", namespace, "greeting=two"), options)
    assert upgraded.outcome == "deployed" and upgraded.revision == 2, upgraded.message
    cm = _config(admin_http, namespace, "hi-config")
    assert cm["data"]["greeting"] == "two"
    assert cm["metadata"]["annotations"]["meta.helm.sh/release-name"] == "hi"
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    history = helm.json("history", "hi", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]

    back = await rollback(namespace, "hi", None, options)
    assert back.outcome == "deployed" and back.revision == 3, back.message
    assert _config(admin_http, namespace, "hi-config")["data"]["greeting"] == "one"
    status = helm.json("status", "hi", "-n", namespace)
    assert status["info"]["status"] == "deployed" and status["version"] == 3
    assert status["info"]["description"] == "Rollback to 1"
    assert helm.json("get", "values", "hi", "-n", namespace) == {"greeting": "one"}

    removed = await uninstall(namespace, "hi", options)
    assert removed.outcome == "uninstalled", removed.message
    assert _api(admin_http, f"/api/v1/namespaces/{namespace}/services/hi-web").status_code == 404
    assert helm.json("list", "-n", namespace) == []


async def test_a_helmguard_operation_in_flight_makes_helm_refuse(
    sandbox: Sandbox, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    first = await deploy(_request("busy", namespace), options)
    assert first.outcome == "deployed", first.message
    seen: list[subprocess.CompletedProcess[str]] = []

    def during(record: LogRecord) -> None:
        # After the pending record, before the first object: helm tries the same release.
        if record.step == "plan" and not seen:
            seen.append(helm.run("upgrade", "busy", str(CHART), "-n", namespace, check=False))

    second = await deploy(_request("busy", namespace, "greeting=x"), options, listeners=[during])
    assert second.outcome == "deployed", second.message
    assert seen[0].returncode != 0
    assert "another operation (install/upgrade/rollback) is in progress" in seen[0].stderr
    assert helm.json("status", "busy", "-n", namespace)["info"]["status"] == "deployed"


async def test_a_helm_operation_in_flight_makes_helmguard_refuse(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    helm.run("install", "slow", str(CHART), "-n", namespace, "--wait")
    upgrade = helm.popen(
        "upgrade",
        "slow",
        str(CHART),
        "-n",
        namespace,
        "--set",
        "slowHook=true",
        "--timeout",
        "120s",
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = _api(
                admin_http, f"/api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.slow.v2"
            )
            if found.status_code == 200:
                assert found.json()["metadata"]["labels"]["status"] == "pending-upgrade"
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("helm never wrote its pending revision")
        with pytest.raises(ReleaseBusy, match="pending-upgrade: another operation"):
            await deploy(_request("slow", namespace, "greeting=mine"), options)
        code, _, err = await _acli(sandbox, "rollback", "slow", "-n", namespace, "--no-store")
        assert code == 1 and "another operation" in err
    finally:
        upgrade.kill()
        upgrade.wait()
    # Nothing of helmguard's was applied or recorded meanwhile.
    assert _config(admin_http, namespace, "slow-config")["data"]["greeting"] == "hello"
    assert (
        _api(
            admin_http, f"/api/v1/namespaces/{namespace}/secrets/sh.helm.release.v1.slow.v3"
        ).status_code
        == 404
    )


async def test_configmap_driver(
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    helm_bin: Path,
    tmp_path: Path,
    options: DeployOptions,
) -> None:
    helm = Helm(helm_bin, sandbox, tmp_path / "helm", driver="configmap")
    cm_options = DeployOptions(kubeconfig=options.kubeconfig, timeout=90, driver="configmap")
    result = await deploy(_request("cmd", namespace), cm_options)
    assert result.outcome == "deployed", result.message
    assert [r["status"] for r in helm.json("list", "-n", namespace)] == ["deployed"]
    records = _items(admin_http, f"/api/v1/namespaces/{namespace}/configmaps", "owner=helm")
    assert [r["metadata"]["name"] for r in records] == ["sh.helm.release.v1.cmd.v1"]
    secrets = _items(admin_http, f"/api/v1/namespaces/{namespace}/secrets", "owner=helm")
    assert secrets == []
    helm.run("upgrade", "cmd", str(CHART), "-n", namespace, "--reuse-values", "--set", "greeting=b")
    removed = await uninstall(namespace, "cmd", cm_options)
    assert removed.outcome == "uninstalled", removed.message
    assert helm.json("list", "-n", namespace) == []


def test_bad_helm_driver_is_refused_before_anything(sandbox: Sandbox, namespace: str) -> None:
    code, _, err = _cli(
        sandbox,
        "deploy",
        str(CHART),
        "--release",
        "x",
        "-n",
        namespace,
        "--no-store",
        env={"HELM_DRIVER": "sql"},
    )
    assert code == 2 and "HELM_DRIVER='sql'" in err


_MODES = {
    "--reuse-values": "reuse",
    "--reset-values": "reset",
    "--reset-then-reuse-values": "reset-then-reuse",
    "": "",
}


@pytest.mark.parametrize(
    ("flag", "sets"),
    [
        ("--reuse-values", ["settings.size=large", "greeting=null"]),
        ("--reset-values", ["settings.size=large"]),
        ("--reset-then-reuse-values", ["settings.size=large"]),
        ("", []),  # no new values: Helm reuses the previous revision's
    ],
)
async def test_upgrade_values_are_helms(
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    helm: Helm,
    options: DeployOptions,
    flag: str,
    sets: list[str],
) -> None:
    first = ["--set", "greeting=one", "--set", "settings.color=green"]
    for name in ("by-helm", "by-hg"):
        helm.run("install", name, str(CHART), "-n", namespace, *first)
    set_args = [a for s in sets for a in ("--set", s)]
    helm.run(
        "upgrade", "by-helm", str(CHART), "-n", namespace, *([flag] if flag else []), *set_args
    )
    result = await deploy(
        _request("by-hg", namespace, *sets),
        DeployOptions(kubeconfig=options.kubeconfig, timeout=90, values_mode=_MODES[flag]),
    )
    assert result.outcome == "deployed" and result.revision == 2, result.message
    for extra in ([], ["--all"]):
        assert helm.json("get", "values", "by-hg", "-n", namespace, *extra) == helm.json(
            "get", "values", "by-helm", "-n", namespace, *extra
        ), extra
    ours = _config(admin_http, namespace, "by-hg-config")["data"]
    theirs = _config(admin_http, namespace, "by-helm-config")["data"]
    assert ours == theirs


async def test_a_legacy_helmguard_record_is_migrated_on_first_touch(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    import base64
    import gzip

    rendered = render_chart(_request("old", namespace))
    config = next(o for o in rendered.objects if o.kind == "ConfigMap")
    body = dict(config.body)
    body["metadata"] = {
        **config.metadata,
        "labels": {"app.kubernetes.io/managed-by": "helmguard"},
        "annotations": {"helmguard.io/release": f"{namespace}/old", "helmguard.io/revision": "1"},
    }
    # Applied as helmguard applied before: server-side, field manager "helmguard".
    created = _apply(
        admin_http, f"/api/v1/namespaces/{namespace}/configmaps/{config.name}", body, "helmguard"
    )
    payload = {
        "release": "old",
        "namespace": namespace,
        "revision": 1,
        "chart": "interop",
        "chartVersion": "1.2.0",
        "valuesDigest": "",
        "outcome": "deployed",
        "objects": [dict(config.body)],
        "sources": [config.source],
        "crds": [],
        "hooks": [],
        "applied": [
            {
                "group": "",
                "kind": "ConfigMap",
                "namespace": namespace,
                "name": config.name,
                "apiVersion": "v1",
                "uid": created["metadata"]["uid"],
                "resourceVersion": created["metadata"]["resourceVersion"],
                "created": True,
            }
        ],
    }
    legacy = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helmguard.io/release.v1",
        "metadata": {
            "name": "helmguard.release.v1.old.v1",
            "labels": {"owner": "helmguard", "name": "old", "revision": "1", "status": "deployed"},
        },
        "data": {"release": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()},
    }
    _post(admin_http, f"/api/v1/namespaces/{namespace}/secrets", legacy)

    result = await deploy(_request("old", namespace), options)
    assert result.outcome == "deployed" and result.revision == 2, result.message
    assert any(r.step == "record.migrated" for r in result.log)
    gone = _api(admin_http, f"/api/v1/namespaces/{namespace}/secrets/helmguard.release.v1.old.v1")
    assert gone.status_code == 404
    history = helm.json("history", "old", "-n", namespace)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    # The same object, now carrying Helm's ownership too.
    cm = _config(admin_http, namespace, config.name)
    assert cm["metadata"]["uid"] == created["metadata"]["uid"]
    assert cm["metadata"]["annotations"]["meta.helm.sh/release-name"] == "old"


def test_cli_create_namespace_description_history_max_get_and_dry_run(
    sandbox: Sandbox, admin_http: httpx.Client, helm: Helm, tmp_path: Path
) -> None:
    from kubeapi import delete_namespace

    ns = f"t-cn-{tmp_path.name[-6:]}".lower().replace("_", "-")
    db = ["--db", str(tmp_path / "db.sqlite")]
    try:
        code, out, err = _cli(
            sandbox, "deploy", str(CHART), "--release", "cn", "-n", ns, "--dry-run=server"
        )
        # The server dry run, with nothing created: the namespace does not exist yet.
        assert code == 1 and "create-namespace" in err, err
        assert _api(admin_http, f"/api/v1/namespaces/{ns}").status_code == 404
        for greeting in ("a", "b", "c"):
            code, _, err = _cli(
                sandbox,
                "deploy",
                str(CHART),
                "--release",
                "cn",
                "-n",
                ns,
                *db,
                "--create-namespace",
                "--timeout",
                "1m30s",
                "--history-max",
                "2",
                "--description",
                f"greeting {greeting}",
                "--set",
                f"greeting={greeting}",
            )
            assert code == 0, err
        created = _api(admin_http, f"/api/v1/namespaces/{ns}").json()
        assert created["metadata"]["labels"]["name"] == ns
        history = helm.json("history", "cn", "-n", ns)
        assert [(h["revision"], h["status"], h["description"]) for h in history] == [
            (2, "superseded", "greeting b"),
            (3, "deployed", "greeting c"),
        ]
        code, out, _ = _cli(sandbox, "get", "notes", "cn", "-n", ns)
        assert code == 0 and out == helm.run("get", "notes", "cn", "-n", ns).stdout
        code, out, _ = _cli(sandbox, "get", "hooks", "cn", "-n", ns)
        assert code == 0 and out == helm.run("get", "hooks", "cn", "-n", ns).stdout
        code, out, _ = _cli(sandbox, "get", "manifest", "cn", "-n", ns, "--revision", "2")
        theirs = helm.run("get", "manifest", "cn", "-n", ns, "--revision", "2").stdout
        assert code == 0 and out == theirs
        code, out, _ = _cli(sandbox, "get", "all", "cn", "-n", ns)
        assert code == 0 and "STATUS: deployed" in out and "REVISION: 3" in out
        code, _, err = _cli(sandbox, "get", "values", "cn", "-n", ns, "--revision", "1")
        assert code == 1 and "has no revision 1 (stored: 2, 3)" in err
        code, out, _ = _cli(sandbox, "list", "-n", ns, "--failed", "-o", "json")
        assert code == 0 and json.loads(out) == []
        code, out, _ = _cli(sandbox, "uninstall", "cn", "-n", ns, *db)
        assert code == 0
    finally:
        delete_namespace(admin_http, ns)


async def test_uninstall_keep_history_leaves_helms_uninstalled_record(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str, helm: Helm, options: DeployOptions
) -> None:
    first = await deploy(_request("kept", namespace), options)
    assert first.outcome == "deployed", first.message
    kept = DeployOptions(kubeconfig=options.kubeconfig, timeout=90, keep_history=True)
    removed = await uninstall(namespace, "kept", kept)
    assert removed.outcome == "uninstalled", removed.message
    assert _api(
        admin_http, f"/api/v1/namespaces/{namespace}/configmaps/kept-config"
    ).status_code == (404)
    status = helm.json("status", "kept", "-n", namespace)
    assert status["info"]["status"] == "uninstalled"
    assert status["info"]["description"] == "Uninstallation complete"
    assert [r["status"] for r in helm.json("list", "-n", namespace, "--uninstalled")] == [
        "uninstalled"
    ]
    # helm itself can purge what helmguard kept.
    helm.run("uninstall", "kept", "-n", namespace)
    assert helm.json("list", "-n", namespace) == []


def test_list_sorts_pages_and_shortens_as_helm_list(
    sandbox: Sandbox, helm: Helm, namespace: str
) -> None:
    """`list` with helm list's -d, -r, -m, --offset, -q, --no-headers and --superseded,
    cell for cell against the helm binary, on releases deployed a second apart (the dates
    helm sorts by are whole seconds)."""
    for name in ("mid", "zed", "abe"):
        helm.run("install", name, str(CHART), "-n", namespace)
        time.sleep(1.1)
    helm.run("upgrade", "zed", str(CHART), "-n", namespace, "--set", "greeting=again")
    cases = [
        (), ("-d",), ("-r",), ("-d", "-r"), ("-m", "2"), ("--offset", "1"),
        ("-m", "1", "--offset", "1", "-r"), ("--offset", "9"), ("-q",), ("-q", "-d"),
        ("--no-headers",), ("--superseded",), ("--deployed", "-d"),
    ]  # fmt: skip
    for args in cases:
        ours = _cli(sandbox, "list", "-n", namespace, *args)
        theirs = helm.run("list", "-n", namespace, *args)
        assert ours[0] == 0, (args, ours[2])
        assert _cells(ours[1]) == _cells(theirs.stdout), args
    for fmt in ("json", "yaml"):
        code, out, err = _cli(sandbox, "list", "-n", namespace, "-q", "-d", "-o", fmt)
        assert code == 0, err
        theirs = helm.run("list", "-n", namespace, "-q", "-d", "-o", fmt).stdout
        assert yaml.safe_load(out) == yaml.safe_load(theirs) == ["mid", "abe", "zed"], fmt


async def test_get_metadata_as_helm_get_metadata(
    sandbox: Sandbox, helm: Helm, namespace: str, options: DeployOptions
) -> None:
    """`get metadata` (table, json) of a release helm installed and of one helmguard
    deployed, against the helm binary's output on the same records."""
    helm.run("install", "hm", str(CHART), "-n", namespace)
    helm.run("upgrade", "hm", str(CHART), "-n", namespace, "--set", "greeting=two")
    ours = await deploy(_request("gm", namespace), options)
    assert ours.outcome == "deployed", ours.message
    for release, revision in (("hm", ()), ("hm", ("--revision", "1")), ("gm", ())):
        args = ("get", "metadata", release, "-n", namespace, *revision)
        code, out, err = await _acli(sandbox, *args)
        assert code == 0, err
        assert out == helm.run(*args).stdout, (release, revision)
        code, out, err = await _acli(sandbox, *args, "-o", "json")
        assert code == 0, err
        assert json.loads(out) == helm.json(*args), (release, revision)
