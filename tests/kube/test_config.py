"""Resolving the cluster from kubeconfig files, KUBECONFIG, in-cluster; exec plugin failures.

These need no cluster: kubeconfig resolution is file handling, and exec plugins are real
programs run by the test. Certificates come from the sandbox's PKI generator.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.kube.errors import KubeConfigError
from helmguard.sandbox.pki import generate_pki

from .conftest import closed_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    generate_pki(directory)
    return directory


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _kubeconfig(
    path: Path,
    *,
    contexts: dict[str, tuple[str, str]],
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    current: str = "",
) -> Path:
    body = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [
            {"name": n, "context": {"cluster": c, "user": u, "namespace": f"ns-{n}"}}
            for n, (c, u) in contexts.items()
        ],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(body))
    return path


def test_explicit_kubeconfig_missing(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="does not exist") as info:
        load_config(tmp_path / "nope")
    assert "--kubeconfig" in info.value.fix


def test_context_not_found_names_the_available_ones(tmp_path: Path, pki: Path) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        contexts={"dev": ("c", "u"), "prod": ("c", "u")},
        clusters={"c": {"server": "https://127.0.0.1:6443"}},
        users={"u": {"token": "t"}},
        current="dev",
    )
    with pytest.raises(KubeConfigError, match="Available contexts: dev, prod") as info:
        load_config(path, "staging")
    assert "'staging'" in info.value.message


def test_no_current_context(tmp_path: Path) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        contexts={"dev": ("c", "u")},
        clusters={"c": {"server": "https://127.0.0.1:6443"}},
        users={"u": {}},
    )
    with pytest.raises(KubeConfigError, match="No current-context") as info:
        load_config(path)
    assert "--kube-context" in info.value.fix


def test_kubeconfig_env_merges_files_first_wins(tmp_path: Path, pki: Path) -> None:
    # Relative paths resolve against the file that names them, as kubectl does.
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    first = _kubeconfig(
        tmp_path / "a" / "config",
        contexts={"dev": ("one", "alice")},
        clusters={"one": {"server": "https://one:6443", "certificate-authority": "ca.crt"}},
        users={"alice": {"token": "first-token"}},
        current="dev",
    )
    second = _kubeconfig(
        tmp_path / "second",
        contexts={"dev": ("two", "bob"), "ops": ("two", "bob")},
        clusters={"two": {"server": "https://two:6443", "insecure-skip-tls-verify": True}},
        users={"alice": {"token": "shadowed"}, "bob": {"tokenFile": "bob.token"}},
        current="ops",
    )
    env = {"KUBECONFIG": os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])}
    config = load_config(environ=env)
    assert config.target.context == "dev"  # first current-context wins
    assert config.target.server == "https://one:6443"
    assert config.token == "first-token"
    assert config.ca_pem == (pki / "ca.crt").read_bytes()
    assert config.target.namespace == "ns-dev"
    assert config.target.source == os.pathsep.join([str(first), str(second)])

    ops = load_config(context="ops", environ=env)
    assert ops.target.server == "https://two:6443" and ops.insecure
    assert ops.token_file == tmp_path / "bob.token"
    assert ops.target.auth == "token-file"


def test_kubeconfig_env_all_missing(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "x")}
    with pytest.raises(KubeConfigError, match="None of the kubeconfig files"):
        load_config(environ=env)


def test_nothing_to_connect_to(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="No kubeconfig found"):
        load_config(environ={"HOME": str(tmp_path)}, service_account_dir=tmp_path / "sa")


def test_home_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    _kubeconfig(
        tmp_path / ".kube" / "config",
        contexts={"home": ("c", "u")},
        clusters={"c": {"server": "https://home:6443"}},
        users={"u": {"username": "admin", "password": "secret"}},
        current="home",
    )
    config = load_config(environ={"HOME": str(tmp_path)})
    assert config.target.server == "https://home:6443"
    assert config.target.auth == "basic"
    assert "secret" not in repr(config)


def test_in_cluster(tmp_path: Path, pki: Path) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("token-from-kubelet\n")
    (sa / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    (sa / "namespace").write_text("apps")
    env = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "fd00::1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    config = load_config(environ=env, service_account_dir=sa)
    assert config.target.server == "https://[fd00::1]:443"
    assert config.target.namespace == "apps"
    assert config.token_file == sa / "token"
    assert config.target.source == "in-cluster ServiceAccount"


def test_client_certificate_files_and_data(tmp_path: Path, pki: Path) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        contexts={"files": ("c", "files"), "data": ("c", "data")},
        clusters={
            "c": {"server": "https://c:6443", "certificate-authority-data": _b64(pki / "ca.crt")}
        },
        users={
            "files": {
                "client-certificate": str(pki / "admin.crt"),
                "client-key": str(pki / "admin.key"),
            },
            "data": {
                "client-certificate-data": _b64(pki / "admin.crt"),
                "client-key-data": _b64(pki / "admin.key"),
            },
        },
    )
    by_file = load_config(path, "files")
    by_data = load_config(path, "data")
    assert by_file.client_cert_pem == by_data.client_cert_pem == (pki / "admin.crt").read_bytes()
    assert by_file.target.auth == "client-certificate"
    Kube(by_data)  # builds the TLS context: the material is usable


def test_bad_material_is_a_config_error(tmp_path: Path, pki: Path) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        contexts={"badca": ("bad", "u"), "nokey": ("good", "nokey"), "gone": ("gone", "u")},
        clusters={
            "bad": {
                "server": "https://c:6443",
                "certificate-authority-data": _b64(pki / "admin.key"),
            },
            "good": {"server": "https://c:6443"},
            "gone": {"server": "https://c:6443", "certificate-authority": "absent.crt"},
        },
        users={"u": {}, "nokey": {"client-certificate-data": _b64(pki / "admin.crt")}},
    )
    with pytest.raises(KubeConfigError, match="certificate authority of cluster 'bad'"):
        Kube(load_config(path, "badca"))
    with pytest.raises(KubeConfigError, match="without its key"):
        load_config(path, "nokey")
    with pytest.raises(KubeConfigError, match=r"absent\.crt"):
        load_config(path, "gone")


KUBECONFIG_HEAD = (
    "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
    "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
)


@pytest.mark.parametrize(
    ("cluster", "user", "problem"),
    [
        (
            'insecure-skip-tls-verify: "false"',
            "token: t",
            "clusters[0].cluster.insecure-skip-tls-verify is a string, client-go wants a bool",
        ),
        ("insecure-skip-tls-verify: 1", "token: t", "is a number, client-go wants a bool"),
        ("server: [a]", "token: t", "clusters[0].cluster.server is a array"),
        ("certificate-authority-data: not*base64", "token: t", "is not base64 data"),
        ("disable-compression: 'yes'", "token: t", "disable-compression is a string"),
        ("proxy-url: x", "token: 12345", "users[0].user.token is a number"),
        ("proxy-url: x", "as-groups: a", "users[0].user.as-groups is a string"),
        ("proxy-url: x", "exec: {command: x, args: [1]}", "users[0].user.exec.args[0]"),
    ],
)
def test_kubeconfig_fields_typed_as_client_go_types_them(
    tmp_path: Path, cluster: str, user: str, problem: str
) -> None:
    path = tmp_path / "config"
    path.write_text(
        f"{KUBECONFIG_HEAD}clusters:\n- name: k\n  cluster:\n    server: https://c:6443\n"
        f"    {cluster}\nusers:\n- name: u\n  user:\n    {user}\n"
    )
    with pytest.raises(KubeConfigError) as info:
        load_config(path)
    assert problem in info.value.message
    assert "12345" not in info.value.message  # a credential never reaches the message


@pytest.mark.parametrize(("text", "insecure"), [("false", False), ("yes", True), ("~", False)])
def test_kubeconfig_booleans_read_as_go_reads_them(
    tmp_path: Path, text: str, insecure: bool
) -> None:
    path = tmp_path / "config"
    path.write_text(
        f"{KUBECONFIG_HEAD}clusters:\n- name: k\n  cluster:\n    server: https://c:6443\n"
        f"    insecure-skip-tls-verify: {text}\nusers:\n- name: u\n  user: {{token: t}}\n"
    )
    assert load_config(path).insecure is insecure


def test_kubeconfig_that_is_not_utf8_or_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"apiVersion: v1\nkind: \xff\n")
    with pytest.raises(KubeConfigError, match="line 2: invalid leading UTF-8 octet"):
        load_config(path)
    path.write_text("clusters: [\n")
    with pytest.raises(KubeConfigError, match="invalid YAML: line 2"):
        load_config(path)


def test_unsupported_auth(tmp_path: Path) -> None:
    path = _kubeconfig(
        tmp_path / "config",
        contexts={"gcp": ("c", "gcp"), "old": ("c", "old")},
        clusters={"c": {"server": "https://c:6443"}},
        users={
            "gcp": {"auth-provider": {"name": "gcp"}},
            "old": {
                "exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}
            },
        },
    )
    with pytest.raises(KubeConfigError, match="auth-provider 'gcp'"):
        load_config(path, "gcp")
    with pytest.raises(KubeConfigError, match="v1alpha1"):
        load_config(path, "old")


def _plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "plugin.py"
    script.write_text(f"#!{sys.executable}\n{body}\n")
    script.chmod(0o755)
    return script


def _exec_kubeconfig(tmp_path: Path, exec_spec: dict[str, Any]) -> Path:
    return _kubeconfig(
        tmp_path / "config",
        contexts={"x": ("c", "u")},
        clusters={"c": {"server": f"https://127.0.0.1:{closed_port()}"}},
        users={"u": {"exec": exec_spec}},
        current="x",
    )


async def test_exec_plugin_missing(tmp_path: Path) -> None:
    path = _exec_kubeconfig(
        tmp_path,
        {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "helmguard-no-such-plugin",
            "installHint": "Install it with: brew install no-such-plugin",
            "interactiveMode": "Never",
        },
    )
    with pytest.raises(KubeConfigError, match="was not found") as info:
        await connect_config(load_config(path), timeout=2)
    assert info.value.fix == "Install it with: brew install no-such-plugin"


async def test_exec_plugin_failing_reports_stderr(tmp_path: Path) -> None:
    script = _plugin(
        tmp_path, "import sys\nsys.stderr.write('token expired, run login\\n')\nsys.exit(3)"
    )
    path = _exec_kubeconfig(
        tmp_path, {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(script)}
    )
    with pytest.raises(KubeConfigError, match="exit code 3: token expired, run login"):
        await connect_config(load_config(path), timeout=2)


async def test_exec_plugin_wrong_api_version(tmp_path: Path) -> None:
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "t"},
    }
    script = _plugin(tmp_path, f"print({json.dumps(json.dumps(credential))})")
    path = _exec_kubeconfig(
        tmp_path,
        {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "./plugin.py",
            "interactiveMode": "Never",
        },
    )
    assert load_config(path).exec_plugin is not None
    assert load_config(path).exec_plugin.command == str(script)  # type: ignore[union-attr]
    with pytest.raises(KubeConfigError, match="answered with apiVersion"):
        await connect_config(load_config(path), timeout=2)


def _hanging_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A plugin that starts a child, says so on stderr, and hangs; the pids go to a file."""
    pids = tmp_path / "pids"
    script = _plugin(
        tmp_path,
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "sys.stderr.write('waiting for the browser login\\n'); sys.stderr.flush()\n"
        "time.sleep(600)",
    )
    path = _exec_kubeconfig(
        tmp_path, {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}
    )
    return path, pids


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a reaped-late zombie is dead)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def _gone(pids_file: Path) -> list[int]:
    """The plugin's pids still alive shortly after the failure (none expected)."""
    pids = [int(p) for p in (await asyncio.to_thread(pids_file.read_text)).split()]
    assert len(pids) == 2
    for _ in range(50):
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        await asyncio.sleep(0.05)
    return alive


async def test_a_hanging_exec_plugin_times_out_naming_it_and_its_group_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pids = _hanging_plugin(tmp_path)
    monkeypatch.setenv("HELMGUARD_EXEC_TIMEOUT", "1.5")
    config = load_config(path)
    assert config.exec_plugin is not None and config.exec_plugin.timeout == 1.5
    started = time.monotonic()
    # The connect timeout is longer: the plugin's own timeout decides, and names the plugin.
    with pytest.raises(KubeConfigError) as info:
        await connect_config(config, timeout=20)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 4, elapsed
    message = str(info.value)
    assert "plugin.py" in message and "within 1.5s" in message
    assert "waiting for the browser login" in message
    assert await _gone(pids) == []


async def test_a_hanging_exec_plugin_is_killed_when_the_caller_gives_up(tmp_path: Path) -> None:
    path, pids = _hanging_plugin(tmp_path)
    config = load_config(path)
    assert config.exec_plugin is not None and config.exec_plugin.timeout == 30
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.5):
            await connect_config(config, timeout=20)
    assert await _gone(pids) == []


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "1e9"])
def test_a_bad_exec_timeout_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    path, _ = _hanging_plugin(tmp_path)
    monkeypatch.setenv("HELMGUARD_EXEC_TIMEOUT", value)
    with pytest.raises(KubeConfigError, match="HELMGUARD_EXEC_TIMEOUT"):
        load_config(path)


def test_in_cluster_mount_point_from_the_environment(tmp_path: Path, pki: Path) -> None:
    sa = tmp_path / "elsewhere"
    sa.mkdir()
    (sa / "token").write_text("t0ken")
    (sa / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    env = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "fd00::1",
        "KUBERNETES_SERVICE_PORT": "6443",
        "HELMGUARD_SERVICE_ACCOUNT_DIR": str(sa),
    }
    config = load_config(environ=env)
    assert config.target.server == "https://[fd00::1]:6443"
    assert (config.target.namespace, config.token_file) == ("default", sa / "token")
    # No token there: not a pod, and the error says what was looked for.
    (sa / "token").unlink()
    with pytest.raises(KubeConfigError, match="not a pod with a ServiceAccount token"):
        load_config(environ=env)
