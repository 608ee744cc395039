"""helm uninstall's and helm rollback's flags held to the helm binary on twin releases.

Each test sets up the same release in two namespaces, runs helm in one and helmguard in
the other with the same flags, and compares what they leave: objects, release records
(helm history, helm get), exit codes and the messages scripts look for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until

CHART = str(Path(__file__).parent / "charts" / "teardown")
COMMON = ("--no-store", "--timeout", "60s")


@dataclass
class Twins:
    """Two namespaces on the sandbox: helm works in `theirs`, helmguard in `ours`."""

    sandbox: Sandbox
    api: httpx.Client
    helm: Helm
    ours: str
    theirs: str

    def install(self, name: str, *flags: str) -> None:
        """The same release in both namespaces, installed by helm (waiting for its pods)."""
        for ns in (self.theirs, self.ours):
            self.helm.run("install", name, CHART, "-n", ns, "--wait", *flags)

    def upgrade(self, name: str, *flags: str, check: bool = True) -> None:
        for ns in (self.theirs, self.ours):
            self.helm.run("upgrade", name, CHART, "-n", ns, *flags, check=check)

    def both(self, *args: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        """`helm ARGS -n theirs` and `helmguard ARGS -n ours`: (code, stdout, stderr) each."""
        done = self.helm.run(*args, "-n", self.theirs, check=False)
        return (done.returncode, done.stdout, done.stderr), self.cli(*args, "-n", self.ours)

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            main, [*args, *COMMON, "--kubeconfig", str(self.sandbox.kubeconfig)]
        )
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    def history(self, name: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """helm history of the release in (theirs, ours): revision, status, description."""
        return tuple(  # type: ignore[return-value]
            [
                (h["revision"], h["status"], h["description"])
                for h in self.helm.json("history", name, "-n", ns)
            ]
            for ns in (self.theirs, self.ours)
        )

    def exists(self, path: str) -> tuple[bool, bool]:
        """Whether the object at `path` (with {} for the namespace) exists in (theirs, ours)."""
        found = []
        for ns in (self.theirs, self.ours):
            got = self.api.get(path.format(ns))
            assert got.status_code in (200, 404), got.text
            found.append(got.status_code == 200)
        return found[0], found[1]

    def _items(self, path: str) -> dict[str, dict[str, Any]]:
        listed = self.api.get(path)
        assert listed.status_code == 200, listed.text
        return {i["metadata"]["name"]: i for i in listed.json()["items"]}

    def items(self, path: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        return self._items(path.format(self.theirs)), self._items(path.format(self.ours))


@pytest.fixture
def twins(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> Iterator[Twins]:
    theirs = f"{namespace}-h"
    create_namespace(admin_http, theirs)
    try:
        yield Twins(
            sandbox, admin_http, Helm(helm_binary(), sandbox, tmp_path / "helm"), namespace, theirs
        )
    finally:
        delete_namespace(admin_http, theirs)


CONFIG = "/api/v1/namespaces/{}/configmaps/td-config"
WEB = "/apis/apps/v1/namespaces/{}/deployments/td-web"
RS = "/apis/apps/v1/namespaces/{}/replicasets"
PODS = "/api/v1/namespaces/{}/pods"


def _marker(event: str) -> str:
    return f"/api/v1/namespaces/{{}}/configmaps/td-{event}"


# ---- uninstall ------------------------------------------------------------------------


def test_cascade_orphan_leaves_the_replicasets_and_pods_as_helms(twins: Twins) -> None:
    twins.install("td", "--set", "replicas=2")
    (code, out, err), (ours, our_out, our_err) = twins.both(
        "uninstall", "td", "--cascade", "orphan", "--wait"
    )
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out == 'release "td" uninstalled\n'
    assert twins.exists(WEB) == (False, False)
    assert twins.exists(CONFIG) == (False, False)
    # The Deployment's ReplicaSet and its pods stay; the ReplicaSet has no owner any more.
    theirs, ours_rs = twins.items(RS)
    assert len(theirs) == len(ours_rs) == 1
    for rs in (*theirs.values(), *ours_rs.values()):
        assert not rs["metadata"].get("ownerReferences"), rs["metadata"]
    pods = twins.items(PODS)
    assert [len(p) for p in pods] == [2, 2]
    for group in pods:
        for pod in group.values():
            assert [o["kind"] for o in pod["metadata"]["ownerReferences"]] == ["ReplicaSet"]
    # Delete hooks ran in both: their marks are left (no delete policy but re-creation).
    assert twins.exists(_marker("pre-delete")) == (True, True)
    assert twins.exists(_marker("post-delete")) == (True, True)


def test_cascade_foreground_with_wait_deletes_the_dependents_first_as_helms(
    twins: Twins,
) -> None:
    twins.install("td")
    (code, _, err), (ours, _, our_err) = twins.both(
        "uninstall", "td", "--cascade", "foreground", "--wait"
    )
    assert code == 0 and ours == 0, (err, our_err)
    # Foreground: the Deployment is gone only once its ReplicaSet is (and it, its pods).
    left = twins.items(RS)
    assert left == ({}, {}), [{n: rs["metadata"] for n, rs in side.items()} for side in left]
    assert twins.exists(WEB) == (False, False)


def test_cascade_bad_value_and_wait_strategy_are_refused(twins: Twins) -> None:
    twins.install("td")
    (code, _, err), (ours, _, our_err) = twins.both("uninstall", "td", "--cascade", "sideways")
    assert code == 1 and ours == 2
    assert (
        'invalid cascade value (sideways). Must be "background", "foreground", or "orphan"' in err
    )
    assert (
        'invalid cascade value (sideways). Must be "background", "foreground", or "orphan"'
        in our_err
    )
    (code, _, err), (ours, _, our_err) = twins.both("uninstall", "td", "--wait=soon")
    assert code == 1 and ours == 2 and "soon" in err and "--wait=soon" in our_err
    assert twins.exists(CONFIG) == (True, True)  # nothing was touched


def test_no_hooks_runs_no_delete_hook_as_helms(twins: Twins) -> None:
    twins.install("td")
    (code, out, err), (ours, our_out, our_err) = twins.both("uninstall", "td", "--no-hooks")
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out
    assert twins.exists(_marker("pre-delete")) == (False, False)
    assert twins.exists(_marker("post-delete")) == (False, False)
    assert twins.exists(CONFIG) == (False, False)


def test_dry_run_deletes_nothing_and_leaves_the_records_as_helms(twins: Twins) -> None:
    twins.install("td")
    before = twins.history("td")
    (code, _, err), (ours, our_out, our_err) = twins.both("uninstall", "td", "--dry-run")
    assert code == 0 and ours == 0, (err, our_err)
    assert twins.history("td") == before
    assert before[0] == before[1]
    assert twins.exists(CONFIG) == (True, True)
    assert twins.exists(WEB) == (True, True)
    assert twins.exists(_marker("pre-delete")) == (False, False)
    # helmguard says what it would do: the objects and the hooks.
    assert f"would delete ConfigMap {twins.ours}/td-config" in our_out
    assert f"would delete Deployment.apps {twins.ours}/td-web" in our_out
    assert f"would run hook ConfigMap {twins.ours}/td-pre-delete (pre-delete)" in our_out
    # An unknown release: an error for both, unless --ignore-not-found.
    (code, _, _), (ours, _, our_err) = twins.both("uninstall", "absent", "--dry-run")
    assert code == 1 and ours == 1 and "not found" in our_err
    (code, _, err), (ours, _, our_err) = twins.both(
        "uninstall", "absent", "--dry-run", "--ignore-not-found"
    )
    assert code == 0 and ours == 0, (err, our_err)


def test_several_releases_and_ignore_not_found_as_helms(twins: Twins) -> None:
    twins.install("td")
    twins.install("te")
    # An unknown name stops the command there, as helm's: what follows is not uninstalled.
    (code, out, err), (ours, our_out, our_err) = twins.both("uninstall", "td", "absent", "te")
    assert code == 1 and ours == 1, (err, our_err)
    assert "absent" in err and "absent" in our_err
    assert out == our_out == 'release "td" uninstalled\n'
    assert twins.exists(CONFIG) == (False, False)
    te = "/api/v1/namespaces/{}/configmaps/te-config"
    assert twins.exists(te) == (True, True)
    (code, out, err), (ours, our_out, our_err) = twins.both(
        "uninstall", "absent", "te", "--ignore-not-found"
    )
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out == 'release "absent" uninstalled\nrelease "te" uninstalled\n'
    assert twins.exists(te) == (False, False)


def test_keep_history_with_a_description_records_what_helm_records(twins: Twins) -> None:
    twins.install("td")
    (code, _, err), (ours, _, our_err) = twins.both(
        "uninstall", "td", "--keep-history", "--description", "gone for now"
    )
    assert code == 0 and ours == 0, (err, our_err)
    theirs, mine = twins.history("td")
    assert theirs == mine == [(1, "uninstalled", "gone for now")]


def test_wait_hook_only_requests_the_deletions_without_waiting(twins: Twins) -> None:
    twins.install("td")
    (code, out, err), (ours, our_out, our_err) = twins.both("uninstall", "td", "--wait=hookOnly")
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out
    assert "not waited for" in our_err
    for ns in (twins.theirs, twins.ours):
        wait_until(
            lambda ns=ns: twins.api.get(WEB.format(ns)).status_code == 404, f"td-web gone in {ns}"
        )
    assert twins.exists(CONFIG) == (False, False)
    # The records are gone in both: helm history finds no release.
    for ns in (twins.theirs, twins.ours):
        assert twins.helm.run("history", "td", "-n", ns, check=False).returncode == 1
