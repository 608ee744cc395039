"""Start, inspect and stop a sandbox: five real processes on free loopback ports.

One file past 400 lines: the five processes' start, readiness checks and stop share one
state directory and its ports.

State lives in one directory per sandbox (PKI, etcd data, logs, kubeconfigs, provisioned
volumes and `state.json` with the processes' pids and ports), so `down` and `status` work
from any later process and nothing is left running that the directory does not know about.

The cluster looks like a small real one: three kwok Nodes in three zones of one region,
with a kubelet's labels, capacity and allocatable, and a default StorageClass whose claims
kube-controller-manager's own hostpath provisioner binds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import platformdirs
import yaml

from helmguard.sandbox import pki
from helmguard.sandbox.build import STAGES_FILE, find_binary
from helmguard.sandbox.errors import SandboxError

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
REGION = "local"
ZONES = ("local-a", "local-b", "local-c")
NODE_NAMES = tuple(f"kwok-node-{i}" for i in range(len(ZONES)))
# What a kubelet reports for an 8-vCPU, 32 GiB machine with a 100 GiB disk: allocatable is
# capacity less kube/system reservations and the eviction threshold. max-pods is 500 (not
# the kubelet's default 110) so the sync benchmark's 1,000 pods fit on three Nodes.
NODE_CAPACITY = {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi", "pods": "500"}
NODE_ALLOCATABLE = {"cpu": "7910m", "memory": "30Gi", "ephemeral-storage": "92Gi", "pods": "500"}
STORAGE_CLASS = "standard"
# kube-controller-manager's in-tree provisioner (--enable-hostpath-provisioner).
PROVISIONER = "kubernetes.io/host-path"
# It always writes to /tmp/hostpath_pv/<uid>; the sandbox's volumes/ is mounted there for it.
HOSTPATH_ROOT = "/tmp/hostpath_pv"
SERVICE_CIDR = "10.96.0.0/24"
# kwok's fallback pool; each Node has its own /22 (kwok takes pod IPs from the Node's podCIDR).
POD_CIDR = "10.244.0.0/16"
_STATE = "state.json"
# Processes this Python process started, so it can reap them (and only them) once stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

Progress = Callable[[str], None]


def sandboxes_home() -> Path:
    """Where sandbox directories live (`HELMGUARD_SANDBOX_HOME` overrides)."""
    override = os.environ.get("HELMGUARD_SANDBOX_HOME")
    return (
        Path(override) if override else Path(platformdirs.user_state_dir("helmguard")) / "sandboxes"
    )


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox, as recorded in its directory."""

    name: str
    directory: Path
    server: str
    ports: Mapping[str, int]
    pids: Mapping[str, int]
    # kube-controller-manager sees the directory's volumes/ as its HOSTPATH_ROOT.
    private_volumes: bool = False
    admin_context: str = "sandbox-admin"
    restricted_context: str = "sandbox-restricted"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    def volume_path(self, host_path: str) -> Path:
        """Where the directory of a provisioned volume (its spec.hostPath.path) really is."""
        if not self.private_volumes:
            return Path(host_path)
        return self.directory / "volumes" / Path(host_path).relative_to(HOSTPATH_ROOT)

    def admin_http(self) -> httpx2.Client:
        """A plain HTTP client authenticated as the admin (system:masters)."""
        return _admin_http(self.directory, self.server)


@dataclass(frozen=True)
class ComponentState:
    name: str
    pid: int | None
    running: bool
    log_tail: str = ""


@dataclass(frozen=True)
class SandboxStatus:
    name: str
    directory: Path
    recorded: bool  # a state.json exists
    components: tuple[ComponentState, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return self.recorded and all(c.running for c in self.components)

    @property
    def any_running(self) -> bool:
        return any(c.running for c in self.components)


def _sandbox_dir(name: str) -> Path:
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise SandboxError(f"invalid sandbox name {name!r}: use letters, digits, '-' and '_'")
    return sandboxes_home() / name


def _read_state(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / _STATE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SandboxError(f"unreadable sandbox state {directory / _STATE}: {exc}") from None
    return data


def _write_state(directory: Path, state: Mapping[str, Any]) -> None:
    tmp = directory / f"{_STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(directory / _STATE)


def _alive(pid: int, directory: Path) -> bool:
    """Is `pid` one of this sandbox's processes (not a zombie, not a recycled pid)?"""
    child = _CHILDREN.get(pid)
    if child is not None:  # started by this process: waitpid is the authority
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return False
    return str(directory).encode() in cmdline


def log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _require_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"port {port} on 127.0.0.1 is in use; pick another") from None


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write_kubeconfigs(directory: Path, server: str) -> None:
    """The user's kubeconfig (admin + restricted contexts) and one per component."""
    pki_dir = directory / "pki"
    cluster = {
        "name": "sandbox",
        "cluster": {"server": server, "certificate-authority-data": _b64(pki_dir / "ca.crt")},
    }

    def user(identity: pki.Identity) -> dict[str, Any]:
        return {
            "name": identity.user,
            "user": {
                "client-certificate-data": _b64(pki_dir / f"{identity.file_stem}.crt"),
                "client-key-data": _b64(pki_dir / f"{identity.file_stem}.key"),
            },
        }

    def config(identities: Mapping[str, pki.Identity], current: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [user(i) for i in identities.values()],
            "contexts": [
                {"name": ctx, "context": {"cluster": "sandbox", "user": i.user}}
                for ctx, i in identities.items()
            ],
            "current-context": current,
        }

    files = {
        "kubeconfig": config(
            {"sandbox-admin": pki.ADMIN, "sandbox-restricted": pki.RESTRICTED}, "sandbox-admin"
        ),
        "controller-manager.kubeconfig": config({"default": pki.CONTROLLER_MANAGER}, "default"),
        "scheduler.kubeconfig": config({"default": pki.SCHEDULER}, "default"),
    }
    for name, body in files.items():
        path = directory / name
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        path.chmod(0o600)


def _private_volumes(volumes: Path) -> tuple[list[str], str]:
    """A command prefix that runs a program with `volumes` mounted on its HOSTPATH_ROOT.

    An unprivileged user and mount namespace (util-linux `unshare`), so what the hostpath
    provisioner writes to its fixed directory stays inside the sandbox directory (the
    host's HOSTPATH_ROOT is only the empty mount point). Returns ([], why) where the
    machine does not allow it.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return [], "no `unshare` on PATH"
    script = f'mkdir -p {HOSTPATH_ROOT} && mount --bind "$0" {HOSTPATH_ROOT} && exec "$@"'
    prefix = [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script, str(volumes)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return [], lines[-1] if lines else f"`unshare` exited with status {probe.returncode}"
    return prefix, ""


def _commands(
    directory: Path, ports: Mapping[str, int], kcm_prefix: list[str]
) -> tuple[dict[str, list[str]], str]:
    p = directory / "pki"
    server = f"https://127.0.0.1:{ports['apiserver']}"
    kcm_cfg = str(directory / "controller-manager.kubeconfig")
    sched_cfg = str(directory / "scheduler.kubeconfig")
    return {
        "etcd": [
            str(find_binary("etcd")),
            "--name=sandbox",
            f"--data-dir={directory / 'etcd-data'}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=sandbox=http://127.0.0.1:{ports['etcd-peer']}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(find_binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--authorization-mode=RBAC",
            "--enable-admission-plugins=ServiceAccount",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            *kcm_prefix,
            str(find_binary("kube-controller-manager")),
            f"--kubeconfig={kcm_cfg}",
            f"--authentication-kubeconfig={kcm_cfg}",
            f"--authorization-kubeconfig={kcm_cfg}",
            "--leader-elect=false",
            "--controllers=*",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller-manager']}",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            "--enable-hostpath-provisioner=true",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(find_binary("kube-scheduler")),
            f"--kubeconfig={sched_cfg}",
            f"--authentication-kubeconfig={sched_cfg}",
            f"--authorization-kubeconfig={sched_cfg}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            "--profiling=false",
        ],
        "kwok": [
            str(find_binary("kwok")),
            f"--kubeconfig={directory / 'kubeconfig'}",
            f"--config={find_binary(STAGES_FILE)}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
    }, server


class _Starter:
    """Starts components one by one, recording each pid before waiting on it."""

    def __init__(self, directory: Path, state: dict[str, Any], progress: Progress) -> None:
        self.directory = directory
        self.state = state
        self.progress = progress
        (directory / "logs").mkdir(exist_ok=True)

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.directory / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.directory,
        )
        log.close()
        _CHILDREN[proc.pid] = proc
        self.state["pids"][name] = proc.pid
        _write_state(self.directory, self.state)

    def check_alive(self) -> None:
        for name, pid in self.state["pids"].items():
            if not _alive(pid, self.directory):
                tail = log_tail(self.directory / "logs" / f"{name}.log") or "(log is empty)"
                raise SandboxError(f"{name} {_how_it_ended(pid)} during start-up:\n{tail}")

    def wait(self, what: str, probe: Callable[[], bool], deadline: float) -> None:
        self.progress(f"waiting for {what}")
        while True:
            self.check_alive()
            try:
                if probe():
                    return
            except (httpx2.HTTPError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"timed out waiting for {what}; logs in {self.directory / 'logs'}"
                )
            time.sleep(0.25)


def _admin_http(directory: Path, server: str) -> httpx2.Client:
    p = directory / "pki"
    # An SSLContext, not verify=str + cert=: httpx ignores `cert` when `verify` is a path.
    context = ssl.create_default_context(cafile=str(p / "ca.crt"))
    context.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
    return httpx2.Client(base_url=server, verify=context, timeout=5)


def _node_manifest(index: int) -> dict[str, Any]:
    """Node `index`: the labels a kubelet and a cloud provider set, in zone ZONES[index]."""
    name = NODE_NAMES[index]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": ZONES[index],
                "node.kubernetes.io/instance-type": "kwok-8cpu-32gi",
                "type": "kwok",
            },
        },
        "spec": {"podCIDR": f"10.244.{4 * index}.0/22"},
        "status": {
            "capacity": NODE_CAPACITY,
            "allocatable": NODE_ALLOCATABLE,
            # kwok fills in its own versions; these two it leaves empty otherwise.
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
        },
    }


def _storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        # As on most real clusters: a claim is provisioned once a pod using it is scheduled.
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def _create(api: httpx2.Client, path: str, body: dict[str, Any]) -> None:
    created = api.post(path, json=body)
    if created.status_code not in (201, 409):
        what = f"{body['kind']} {body['metadata']['name']}"
        raise SandboxError(f"cannot create the {what}: {created.text}")


def _nodes_ready(api: httpx2.Client) -> bool:
    """Every sandbox Node is Ready and rid of the not-ready taint."""
    for name in NODE_NAMES:
        node = api.get(f"/api/v1/nodes/{name}").json()
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in node.get("status", {}).get("conditions", [])
        )
        tainted = any(
            t.get("key") == "node.kubernetes.io/not-ready"
            for t in node.get("spec", {}).get("taints", [])
        )
        if not ready or tainted:
            return False
    return True


def sandbox_up(
    name: str = "default",
    *,
    port: int | None = None,
    progress: Progress = lambda _msg: None,
    timeout: float = 180.0,
) -> Sandbox:
    """Start a sandbox and wait until it is really usable.

    Ready means: /readyz answers ok, the three kwok Nodes are Ready without the
    not-ready taint, the default StorageClass exists and ServiceAccount default/default
    exists. On any failure every process started so far is stopped and the error names
    the component with the tail of its log.
    """
    directory = _sandbox_dir(name)
    status = sandbox_status(name)
    if status.any_running:
        raise SandboxError(
            f"sandbox {name!r} is already up ({directory}); run `helmguard sandbox down"
            f"{'' if name == 'default' else ' --name ' + name}` first"
        )
    if directory.exists():
        progress(f"removing stale sandbox directory {directory} (no process of it is alive)")
        shutil.rmtree(directory)
    if port is not None:
        _require_free(port)
    for binary in (*COMPONENTS, STAGES_FILE):
        find_binary(binary)

    directory.mkdir(parents=True)
    ports = {
        "apiserver": port or _free_port(),
        **{
            k: _free_port()
            for k in ("etcd", "etcd-peer", "controller-manager", "scheduler", "kwok")
        },
    }
    progress("generating PKI")
    pki.generate_pki(directory / "pki")
    volumes = directory / "volumes"
    volumes.mkdir()
    kcm_prefix, why = _private_volumes(volumes)
    if why:
        progress(
            f"kube-controller-manager cannot get a mount namespace ({why}): "
            f"provisioned volumes go to {HOSTPATH_ROOT} on this machine, not {volumes}"
        )
    commands, server = _commands(directory, ports, kcm_prefix)
    _write_kubeconfigs(directory, server)
    state: dict[str, Any] = {
        "name": name,
        "server": server,
        "ports": ports,
        "pids": {},
        "kcm_prefix": kcm_prefix,
    }
    _write_state(directory, state)
    starter = _Starter(directory, state, progress)
    deadline = time.monotonic() + timeout
    try:
        starter.start("etcd", commands["etcd"])
        starter.wait(
            "etcd",
            lambda: (
                httpx2.get(f"http://127.0.0.1:{ports['etcd']}/health", timeout=2).status_code == 200
            ),
            deadline,
        )
        starter.start("kube-apiserver", commands["kube-apiserver"])
        with _admin_http(directory, server) as api:
            starter.wait(
                "kube-apiserver /readyz", lambda: api.get("/readyz").status_code == 200, deadline
            )
            # Created before kwok starts, so kwok initializes all three at once.
            for index in range(len(NODE_NAMES)):
                _create(api, "/api/v1/nodes", _node_manifest(index))
            _create(api, "/apis/storage.k8s.io/v1/storageclasses", _storage_class())
            for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
                starter.start(component, commands[component])
            starter.wait(
                "ServiceAccount default/default",
                lambda: (
                    api.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200
                ),
                deadline,
            )
            starter.wait(
                f"Nodes {', '.join(NODE_NAMES)} Ready", lambda: _nodes_ready(api), deadline
            )
    except BaseException:
        _stop(directory, state)
        raise
    state["ready_at"] = time.time()
    _write_state(directory, state)
    return _sandbox(name, directory, state)


def _sandbox(name: str, directory: Path, state: Mapping[str, Any]) -> Sandbox:
    return Sandbox(
        name,
        directory,
        state["server"],
        state["ports"],
        dict(state["pids"]),
        private_volumes=bool(state.get("kcm_prefix")),
    )


def sandbox_status(name: str = "default") -> SandboxStatus:
    """Which of the sandbox's components are running, with a log tail for the dead ones."""
    directory = _sandbox_dir(name)
    state = _read_state(directory)
    if state is None:
        return SandboxStatus(name, directory, recorded=False)
    components = []
    for component in COMPONENTS:
        pid = state.get("pids", {}).get(component)
        running = pid is not None and _alive(pid, directory)
        tail = "" if running else log_tail(directory / "logs" / f"{component}.log", 4)
        components.append(ComponentState(component, pid, running, tail))
    return SandboxStatus(name, directory, recorded=True, components=tuple(components))


def load_sandbox(name: str = "default") -> Sandbox:
    """The running sandbox `name`, or a SandboxError saying what is wrong with it."""
    status = sandbox_status(name)
    if not status.recorded:
        raise SandboxError(f"sandbox {name!r} is not up; run `helmguard sandbox up`")
    dead = [c for c in status.components if not c.running]
    if dead:
        first = dead[0]
        last = first.log_tail.splitlines()[-1] if first.log_tail else "empty"
        raise SandboxError(
            f"sandbox {name!r} is broken: {', '.join(c.name for c in dead)} not running"
            f" (last log of {first.name}: {last})"
            "; run `helmguard sandbox down` then `up`"
        )
    return _sandbox(name, status.directory, _read_state(status.directory) or {})


def _stop(directory: Path, state: Mapping[str, Any], grace: float = 10.0) -> list[str]:
    """SIGTERM every live component (reverse start order), SIGKILL what outlives `grace`."""
    pids = {n: p for n, p in state.get("pids", {}).items() if _alive(p, directory)}
    for component in reversed(list(pids)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pids[component], signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(p, directory) for p in pids.values()) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid, directory):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    _reap()
    return list(pids)


def _how_it_ended(pid: int) -> str:
    """'exited with status N' or 'was killed by SIGX', when this process started `pid`."""
    proc = _CHILDREN.get(pid)
    code = proc.poll() if proc is not None else None
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _reap() -> None:
    """Collect the exited processes this Python process started, so none stays a zombie."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def sandbox_down(name: str = "default") -> list[str]:
    """Stop the sandbox's processes and delete its directory; returns what was stopped."""
    directory = _sandbox_dir(name)
    state = _read_state(directory)
    if state is None:
        if directory.exists():
            shutil.rmtree(directory)
            return []
        raise SandboxError(f"sandbox {name!r} is not up (no {directory})")
    stopped = _stop(directory, state)
    shutil.rmtree(directory)
    return stopped


def restart_component(name: str, component: str, *, timeout: float = 60.0) -> Sandbox:
    """Start a stopped or killed component of sandbox `name` again, with the same command line.

    For reliability tests that SIGKILL a component (kube-apiserver) and bring it back.
    Waits for /readyz when the component is kube-apiserver. Raises SandboxError if the
    component is still running or does not come back.
    """
    directory = _sandbox_dir(name)
    state = _read_state(directory)
    if state is None or component not in COMPONENTS:
        raise SandboxError(f"sandbox {name!r} has no component {component!r}")
    pid = state.get("pids", {}).get(component)
    # A process just sent SIGKILL may take a moment to be gone: wait for it, briefly.
    gone_by = time.monotonic() + 5
    while pid is not None and _alive(pid, directory):
        if time.monotonic() > gone_by:
            raise SandboxError(f"{component} of sandbox {name!r} is still running (pid {pid})")
        _reap()
        time.sleep(0.05)
    _reap()
    commands, server = _commands(directory, state["ports"], state.get("kcm_prefix", []))
    starter = _Starter(directory, state, lambda _msg: None)
    starter.start(component, commands[component])
    if component == "kube-apiserver":
        with _admin_http(directory, server) as api:
            starter.wait(
                "kube-apiserver /readyz",
                lambda: api.get("/readyz").status_code == 200,
                time.monotonic() + timeout,
            )
    return _sandbox(name, directory, state)
