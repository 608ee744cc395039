"""Hooks as the helm binary runs them: each chart installed by `helm` in one namespace and by
helmguard in another, on the same sandbox; the objects left and the hook order must match.

Order is read from watch events: resourceVersions come from one etcd, so the ADDED and
DELETED events of both namespaces' hooks, sorted by resourceVersion, are the order the
hooks were created and deleted in.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, Result, deploy
from helmguard.deploy.release import HELM_OWNER, RECORD_OWNER_LABEL
from helmguard.deploy.release_test import release_test
from helmguard.deploy.uninstall import uninstall
from helmguard.sandbox.build import find_binary
from helmguard.sandbox.cluster import Sandbox

CHARTS = Path(__file__).parent / "charts"
RELEASE = "r"

# (API prefix, resource, kind, namespaced): what hooks and the test charts create.
COLLECTIONS = (
    ("/api/v1", "serviceaccounts", "ServiceAccount", True),
    ("/api/v1", "configmaps", "ConfigMap", True),
    ("/api/v1", "secrets", "Secret", True),
    ("/api/v1", "services", "Service", True),
    ("/apis/apps/v1", "deployments", "Deployment", True),
    ("/apis/batch/v1", "jobs", "Job", True),
    ("/apis/rbac.authorization.k8s.io/v1", "roles", "Role", True),
    ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", True),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    (
        "/apis/admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
    ),
)
GADGETS = ("/apis/operator.helmguard.test/v1", "gadgets", "Gadget", True)
Key = tuple[str, str]  # (kind, name with the namespace replaced by NS)


def _path(prefix: str, resource: str, namespaced: bool, namespace: str) -> str:
    return f"{prefix}/namespaces/{namespace}/{resource}" if namespaced else f"{prefix}/{resource}"


def _key(kind: str, name: str, namespace: str) -> Key:
    return kind, name.replace(namespace, "NS")


def _is_record(kind: str, item: dict[str, Any]) -> bool:
    labels = (item.get("metadata") or {}).get("labels") or {}
    # Both write Helm's records now: the release Secrets are not objects of the chart.
    return kind == "Secret" and labels.get(RECORD_OWNER_LABEL) == HELM_OWNER


def _served(api: httpx2.Client, collection: tuple[str, str, str, bool]) -> bool:
    return api.get(collection[0]).status_code == 200


def left_in_cluster(api: httpx2.Client, namespace: str) -> set[Key]:
    """Every object of COLLECTIONS (and Gadgets) the namespace's release left behind.

    Cluster-scoped ones count when their name holds the namespace; release records, the
    namespace's own `default` ServiceAccount and `kube-root-ca.crt` are left out.
    """
    found: set[Key] = set()
    for prefix, resource, kind, namespaced in (*COLLECTIONS, GADGETS):
        if not _served(api, (prefix, resource, kind, namespaced)):
            continue
        listed = api.get(_path(prefix, resource, namespaced, namespace))
        assert listed.status_code == 200, listed.text
        for item in listed.json()["items"]:
            name = item["metadata"]["name"]
            if (not namespaced and namespace not in name) or _is_record(kind, item):
                continue
            if name in ("default", "kube-root-ca.crt"):
                continue
            found.add(_key(kind, name, namespace))
    return found


@dataclass
class Recorder:
    """Watches COLLECTIONS from a resourceVersion taken before the install; keeps the ADDED
    and DELETED events of one namespace (cluster-scoped: names holding it)."""

    sandbox: Sandbox
    namespace: str
    events: list[tuple[int, str, Key]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clients: list[httpx2.Client] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self, api: httpx2.Client) -> None:
        for prefix, resource, kind, namespaced in COLLECTIONS:
            path = _path(prefix, resource, namespaced, self.namespace)
            version = api.get(path).json()["metadata"]["resourceVersion"]
            client = self.sandbox.admin_http()
            self._clients.append(client)
            thread = threading.Thread(
                target=self._watch, args=(client, path, kind, version), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _watch(self, client: httpx2.Client, path: str, kind: str, version: str) -> None:
        # A short read timeout lets the thread see stop(); it then watches on from `version`.
        timeout = httpx2.Timeout(10.0, read=0.5)
        while not self._stopped.is_set():
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
            try:
                with client.stream("GET", path, params=params, timeout=timeout) as response:
                    for line in response.iter_lines():
                        event = json.loads(line)
                        meta = event["object"].get("metadata") or {}
                        version = str(meta.get("resourceVersion") or version)
                        self._keep(event, kind)
            except httpx2.ReadTimeout:
                continue

    def _keep(self, event: dict[str, Any], kind: str) -> None:
        meta = event["object"].get("metadata") or {}
        name = str(meta.get("name") or "")
        if event["type"] not in ("ADDED", "DELETED") or _is_record(kind, event["object"]):
            return
        if meta.get("namespace", self.namespace) != self.namespace:
            return
        if not meta.get("namespace") and self.namespace not in name:
            return
        with self._lock:
            self.events.append(
                (int(meta["resourceVersion"]), event["type"], _key(kind, name, self.namespace))
            )

    def stop(self) -> None:
        time.sleep(1.0)  # the last events are in flight
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for client in self._clients:
            client.close()

    def hook_sequence(self, hooks: set[Key]) -> list[str]:
        """ADDED/DELETED of each hook in resourceVersion order; `resources` marks where the
        release's own objects were created (consecutive ones as one mark)."""
        out: list[str] = []
        with self._lock:
            events = sorted(self.events)
        for _, kind, key in events:
            if key in hooks:
                out.append(f"{kind} {key[0]} {key[1]}")
            elif kind == "ADDED" and (not out or out[-1] != "resources"):
                out.append("resources")
        return out


@dataclass
class Helm:
    binary: Path
    kubeconfig: Path
    home: Path

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        return subprocess.run(
            [str(self.binary), *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )


@pytest.fixture
def helm(sandbox: Sandbox, tmp_path: Path) -> Helm:
    return Helm(find_binary("helm"), sandbox.kubeconfig, tmp_path / "helm")


@pytest.fixture
def options(sandbox: Sandbox) -> DeployOptions:
    return DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90)


def _request(chart: str, namespace: str, *sets: str) -> RenderRequest:
    return RenderRequest(
        chart=str(CHARTS / chart),
        release=RELEASE,
        namespace=namespace,
        values=ValuesOptions(set_values=sets),
    )


def _hook_keys(chart: str, namespace: str, *sets: str) -> set[Key]:
    rendered = render_chart(_request(chart, namespace, *sets))
    return {_key(h.obj.kind, h.obj.name, namespace) for h in rendered.hooks}


@dataclass(frozen=True)
class Run:
    ok: bool
    seconds: float
    sequence: list[str]
    left: set[Key]
    detail: str


def _helm_run(
    helm: Helm, sandbox: Sandbox, api: httpx2.Client, ns: str, hooks: set[Key], *args: str
) -> Run:
    recorder = Recorder(sandbox, ns)
    recorder.start(api)
    start = time.monotonic()
    done = helm(*args, "-n", ns)
    seconds = time.monotonic() - start
    recorder.stop()
    return Run(
        done.returncode == 0,
        seconds,
        recorder.hook_sequence(hooks),
        left_in_cluster(api, ns),
        done.stdout + done.stderr,
    )


async def _helmguard_run(
    sandbox: Sandbox, api: httpx2.Client, ns: str, hooks: set[Key], action: Any
) -> Run:
    recorder = Recorder(sandbox, ns)
    recorder.start(api)
    start = time.monotonic()
    result: Result = await action()
    seconds = time.monotonic() - start
    recorder.stop()
    return Run(
        result.ok,
        seconds,
        recorder.hook_sequence(hooks),
        left_in_cluster(api, ns),
        result.message,
    )


def _same(helm_run: Run, ours: Run, what: str) -> None:
    print(f"{what}: helm {helm_run.seconds:.2f}s, helmguard {ours.seconds:.2f}s")
    assert ours.ok == helm_run.ok, (
        f"{what}: helm ok={helm_run.ok} ({helm_run.detail[-400:]}), "
        f"helmguard ok={ours.ok} ({ours.detail})"
    )
    assert ours.sequence == helm_run.sequence, (
        f"{what}: hook order differs:\nhelm      {helm_run.sequence}\nhelmguard {ours.sequence}"
    )
    assert ours.left == helm_run.left, (
        f"{what}: only helm left {sorted(helm_run.left - ours.left)}; "
        f"only helmguard left {sorted(ours.left - helm_run.left)}"
    )


@dataclass(frozen=True)
class Parity:
    """One chart installed by helm in `ns_helm` and by helmguard in `ns_ours`, same sandbox."""

    helm: Helm
    sandbox: Sandbox
    api: httpx2.Client
    ns_helm: str
    ns_ours: str
    options: DeployOptions

    def hooks(self, chart: str, *sets: str) -> set[Key]:
        hooks = _hook_keys(chart, self.ns_helm, *sets)
        assert hooks == _hook_keys(chart, self.ns_ours, *sets)
        return hooks

    async def both(
        self,
        what: str,
        hooks: set[Key],
        helm_args: list[str],
        ours: Callable[[], Awaitable[Result]],
    ) -> tuple[Run, Run]:
        """`helm HELM_ARGS` and helmguard's `ours`, each in its namespace; the same outcome."""
        by_helm = _helm_run(self.helm, self.sandbox, self.api, self.ns_helm, hooks, *helm_args)
        by_us = await _helmguard_run(self.sandbox, self.api, self.ns_ours, hooks, ours)
        _same(by_helm, by_us, what)
        return by_helm, by_us

    async def install(self, chart: str, *sets: str) -> tuple[Run, Run]:
        set_args = [a for s in sets for a in ("--set", s)]
        return await self.both(
            f"install {chart}",
            self.hooks(chart, *sets),
            ["install", RELEASE, str(CHARTS / chart), "--wait=watcher", "--timeout=90s", *set_args],
            lambda: deploy(_request(chart, self.ns_ours, *sets), self.options),
        )

    async def test(self, chart: str, *sets: str) -> Run:
        """`helm test` and helmguard's `test` of the installed release; helmguard's run."""
        _, ours = await self.both(
            f"test {chart} {' '.join(sets)}".strip(),
            self.hooks(chart, *sets),
            ["test", RELEASE],
            lambda: release_test(self.ns_ours, RELEASE, self.options),
        )
        return ours


@pytest.fixture
def parity(
    helm: Helm,
    sandbox: Sandbox,
    admin_http: httpx2.Client,
    pair: tuple[str, str],
    options: DeployOptions,
) -> Parity:
    return Parity(helm, sandbox, admin_http, *pair, options)


async def test_certgen_rbac_hooks_live_until_the_event_succeeded(parity: Parity) -> None:
    by_helm, ours = await parity.install("certgen")
    assert ours.ok, ours.detail
    # Each event creates the RBAC hooks, runs its Job, then deletes all of them, last first.
    assert by_helm.sequence[:7] == [
        "ADDED ServiceAccount r-admission",
        "ADDED Role r-admission",
        "ADDED RoleBinding r-admission",
        "ADDED ClusterRole r-NS-admission",
        "ADDED ClusterRoleBinding r-NS-admission",
        "ADDED Job r-admission-create",
        "DELETED Job r-admission-create",
    ]
    assert by_helm.sequence.count("resources") == 1
    assert by_helm.sequence[-1] == "DELETED ServiceAccount r-admission"
    assert ("ValidatingWebhookConfiguration", "r-NS-admission") in ours.left


async def test_crds_custom_resources_post_install_check_and_tests(parity: Parity) -> None:
    _, ours = await parity.install("operator")
    assert ours.ok, ours.detail
    assert ("Gadget", "r-default") in ours.left
    assert ("Job", "r-api-check") not in ours.left  # hook-succeeded
    our_test = await parity.test("operator")
    assert our_test.ok and "1 test(s) passed" in our_test.detail
    # The test Job has no delete policy: it stays, as `helm test` leaves it.
    assert ("Job", "r-test-connection") in our_test.left
    # Each record says when its hooks last ran and how (what `helm status` prints).
    runs = [_last_runs(parity.helm, ns) for ns in (parity.ns_helm, parity.ns_ours)]
    assert runs[0] == runs[1], runs
    assert runs[1][("Job", "r-test-connection")] == "Succeeded", runs
    assert (
        "Phase:          Succeeded" in parity.helm("status", RELEASE, "-n", parity.ns_ours).stdout
    )


def _last_runs(helm: Helm, namespace: str) -> dict[tuple[str, str], str]:
    """Each hook's last run phase as `helm status -o json` reads the record (both times set
    once it has run)."""
    shown = helm("status", RELEASE, "-n", namespace, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    hooks = json.loads(shown.stdout).get("hooks") or []
    for hook in hooks:
        run = hook["last_run"]
        assert ("started_at" in run) == ("completed_at" in run) == (run["phase"] != ""), hook
    return {(h["kind"], h["name"]): h["last_run"]["phase"] for h in hooks}


async def test_a_failing_test_hook_fails_the_test_command_with_its_reason(parity: Parity) -> None:
    await parity.install("operator", "failTest=true")
    # Filtered out (helm test --filter '!name=…'), the failing test does not run: both pass.
    by_helm, skipped = await parity.both(
        "test --filter",
        parity.hooks("operator", "failTest=true"),
        ["test", RELEASE, "--filter", "!name=r-test-connection"],
        lambda: release_test(parity.ns_ours, RELEASE, parity.options, skip={"r-test-connection"}),
    )
    assert by_helm.ok and skipped.ok and ("Job", "r-test-connection") not in skipped.left
    our_test = await parity.test("operator", "failTest=true")
    assert not our_test.ok
    assert f"test hook Job.batch {parity.ns_ours}/r-test-connection failed" in our_test.detail
    assert "DeadlineExceeded" in our_test.detail or "Unschedulable" in our_test.detail
    runs = [_last_runs(parity.helm, ns) for ns in (parity.ns_helm, parity.ns_ours)]
    assert runs[0] == runs[1] and runs[1][("Job", "r-test-connection")] == "Failed", runs


async def test_a_failed_hook_deletes_itself_and_the_succeeded_ones_after_the_event(
    parity: Parity,
) -> None:
    by_helm, ours = await parity.install("hookfail")
    assert not by_helm.ok and not ours.ok
    assert by_helm.sequence == [
        "ADDED ConfigMap r-migration-plan",
        "ADDED Job r-migrate",
        "DELETED Job r-migrate",
        "DELETED ConfigMap r-migration-plan",
    ]
    assert ours.left == set()
    assert "pre-install hook Job.batch" in ours.detail


async def test_a_failed_install_rolled_back_runs_the_delete_hooks(parity: Parity) -> None:
    atomic = DeployOptions(**{**parity.options.__dict__, "atomic": True})
    _, ours = await parity.both(
        "install --rollback-on-failure hookfail",
        parity.hooks("hookfail"),
        ["install", RELEASE, str(CHARTS / "hookfail"), "--rollback-on-failure", "--timeout=90s"],
        lambda: deploy(_request("hookfail", parity.ns_ours), atomic),
    )
    assert ours.left == {("ConfigMap", "r-cleanup-report")}


async def test_default_policy_recreates_hooks_on_upgrade_and_uninstall_leaves_them(
    parity: Parity,
) -> None:
    await parity.install("rerun")

    def uids(ns: str) -> dict[str, str]:
        job = parity.api.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{RELEASE}-migrate").json()
        cm = parity.api.get(f"/api/v1/namespaces/{ns}/configmaps/{RELEASE}-installed-by").json()
        return {"job": job["metadata"]["uid"], "configmap": cm["metadata"]["uid"]}

    namespaces = (parity.ns_helm, parity.ns_ours)
    before = {ns: uids(ns) for ns in namespaces}
    hooks = parity.hooks("rerun")
    upgraded, _ = await parity.both(
        "upgrade rerun",
        hooks,
        [
            *("upgrade", RELEASE, str(CHARTS / "rerun")),
            *("--wait=watcher", "--timeout=90s", "--set", "generation=2"),
        ],
        lambda: deploy(_request("rerun", parity.ns_ours, "generation=2"), parity.options),
    )
    assert upgraded.sequence == [
        "DELETED Job r-migrate",
        "ADDED Job r-migrate",
        "DELETED ConfigMap r-installed-by",
        "ADDED ConfigMap r-installed-by",
    ]
    for ns in namespaces:
        after = uids(ns)
        assert after["job"] != before[ns]["job"] and after["configmap"] != before[ns]["configmap"]
    _, ours_removed = await parity.both(
        "uninstall rerun",
        hooks,
        ["uninstall", RELEASE, "--wait"],
        lambda: uninstall(parity.ns_ours, RELEASE, parity.options),
    )
    # Hooks are not release objects: Helm leaves them, and so does helmguard.
    assert ours_removed.left == {("Job", "r-migrate"), ("ConfigMap", "r-installed-by")}


@pytest.mark.parametrize("policy", ["hook-succeeded", "before-hook-creation"])
async def test_an_object_that_is_both_a_hook_and_a_resource(policy: str, parity: Parity) -> None:
    by_helm, ours = await parity.install("hookres", f"hookPolicy={policy}")
    assert by_helm.ok and ours.ok, ours.detail
    assert ("ConfigMap", "r-shared") in ours.left
    for ns in (parity.ns_helm, parity.ns_ours):
        live = parity.api.get(f"/api/v1/namespaces/{ns}/configmaps/{RELEASE}-shared").json()
        assert live["data"] == {"mode": "release"}  # the release's copy, applied after hooks
