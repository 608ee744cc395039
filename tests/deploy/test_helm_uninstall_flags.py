"""helm uninstall's and helm rollback's flags held to the helm binary on twin releases.

Each test sets up the same release in two namespaces, runs helm in one and helmguard in
the other with the same flags, and compares what they leave: objects, release records
(helm history, helm get), exit codes and the messages scripts look for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmcli import Helm
from helmguard.cli import main
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until

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
        # The command's own flags after COMMON's: a --timeout given wins.
        command, *rest = args
        result = CliRunner().invoke(
            main, [command, *COMMON, *rest, "--kubeconfig", str(self.sandbox.kubeconfig)]
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
    sandbox: Sandbox, namespace: str, twin_namespace: str, admin_http: httpx.Client, helm: Helm
) -> Twins:
    return Twins(sandbox, admin_http, helm, namespace, twin_namespace)


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


def test_wait_honours_the_timeout_on_an_object_a_finalizer_holds(twins: Twins) -> None:
    twins.install("td")
    held = {"metadata": {"finalizers": ["example.com/hold"]}}
    for ns in (twins.theirs, twins.ours):
        patched = twins.api.patch(
            CONFIG.format(ns),
            json=held,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text
    try:
        (code, _, err), (ours, _, our_err) = twins.both(
            "uninstall", "td", "--wait", "--timeout", "15s"
        )
        assert code == ours == 1, (err, our_err)
        assert "td-config" in err or "context deadline exceeded" in err, err
        assert "td-config" in our_err and "example.com/hold" in our_err, our_err
        # helm removes the records anyway; helmguard keeps the latest, uninstalling, so the
        # uninstall can be run again once the finalizer is gone (a deliberate difference).
        assert twins.helm.run("history", "td", "-n", twins.theirs, check=False).returncode == 1
        mine = twins.helm.json("history", "td", "-n", twins.ours)
        # What helm's record says while it deletes (helm's own text).
        assert [(h["status"], h["description"]) for h in mine] == [
            ("uninstalling", "Deletion in progress (or silently failed)")
        ]
    finally:
        for ns in (twins.theirs, twins.ours):
            twins.api.patch(
                CONFIG.format(ns),
                json={"metadata": {"finalizers": None}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
    (ours, _, our_err) = twins.cli("uninstall", "td", "-n", twins.ours)
    assert ours == 0, our_err
    assert twins.exists(CONFIG) == (False, False)


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


def test_uninstall_of_an_uninstalled_release_as_helms(twins: Twins) -> None:
    twins.install("td")
    (code, _, err), (ours, _, our_err) = twins.both("uninstall", "td", "--keep-history")
    assert code == 0 and ours == 0, (err, our_err)
    # Again with --keep-history: an error for both, nothing run or written.
    for ns in (twins.theirs, twins.ours):
        assert twins.api.delete(_marker("pre-delete").format(ns)).status_code == 200
    (code, _, err), (ours, _, our_err) = twins.both("uninstall", "td", "--keep-history")
    assert code == ours == 1
    assert 'the release named "td" is already deleted' in err
    assert 'the release named "td" is already deleted' in our_err
    theirs, mine = twins.history("td")
    assert theirs == mine == [(1, "uninstalled", "Uninstallation complete")]
    # Without it: the records go, and no delete hook runs again.
    (code, out, err), (ours, our_out, our_err) = twins.both("uninstall", "td")
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out == 'release "td" uninstalled\n'
    assert twins.exists(_marker("pre-delete")) == (False, False)
    for ns in (twins.theirs, twins.ours):
        assert twins.helm.run("history", "td", "-n", ns, check=False).returncode == 1


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


# ---- rollback -------------------------------------------------------------------------


def test_rollback_without_a_revision_goes_to_the_one_before_the_latest_as_helms(
    twins: Twins,
) -> None:
    twins.install("td")
    # Revision 3 fails (its immutable ConfigMap's data cannot change), revision 4 deploys.
    twins.upgrade("td", "--set", "frozen=a")
    twins.upgrade("td", "--set", "frozen=b", check=False)
    twins.upgrade("td", "--set", "frozen=a", "--set", "greeting=again")
    theirs, mine = twins.history("td")
    assert [h[1] for h in theirs] == ["superseded", "superseded", "failed", "deployed"]
    # helm rollback NAME: revision 3, the one before the latest, although it failed.
    (code, out, err), (ours, _, our_err) = twins.both("rollback", "td")
    assert code == ours == 1, (out, err, our_err)
    assert "td-frozen" in err and "td-frozen" in our_err
    theirs, mine = twins.history("td")
    assert [h[:2] for h in theirs] == [h[:2] for h in mine]
    assert theirs[-1][1] == "failed" and mine[-1][1] == "failed"
    # A revision never stored is refused by both.
    (code, _, err), (ours, _, our_err) = twins.both("rollback", "td", "9")
    assert code == ours == 1
    assert "release has no 9 version" in err and "release has no 9 version" in our_err


def test_rollback_no_hooks_runs_no_rollback_hook_and_records_them_as_helm(
    twins: Twins,
) -> None:
    twins.install("td")
    twins.upgrade("td", "--set", "greeting=two")
    (code, out, err), (ours, our_out, our_err) = twins.both("rollback", "td", "1", "--no-hooks")
    assert code == 0 and ours == 0, (err, our_err)
    assert out == our_out == "Rollback was a success! Happy Helming!\n"
    assert twins.exists(_marker("pre-rollback")) == (False, False)
    assert twins.exists(_marker("post-rollback")) == (False, False)
    theirs, mine = twins.history("td")
    assert theirs == mine
    hooks = [
        twins.helm.run("get", "hooks", "td", "-n", ns, "--revision", "3").stdout
        for ns in (twins.theirs, twins.ours)
    ]
    assert "td-pre-rollback" in hooks[0] and "td-pre-rollback" in hooks[1]
    # Without it the hooks run: the check above can fail.
    (code, _, err), (ours, _, our_err) = twins.both("rollback", "td", "2")
    assert code == 0 and ours == 0, (err, our_err)
    assert twins.exists(_marker("pre-rollback")) == (True, True)
    assert twins.exists(_marker("post-rollback")) == (True, True)


def test_rollback_dry_run_changes_nothing_as_helms(twins: Twins) -> None:
    twins.install("td")
    twins.upgrade("td", "--set", "greeting=two")
    before = twins.history("td")
    for flag in ("--dry-run", "--dry-run=client", "--dry-run=server"):
        (code, _, err), (ours, our_out, our_err) = twins.both("rollback", "td", flag)
        assert code == 0 and ours == 0, (flag, err, our_err)
        assert "would be rolled back to revision 1 as revision 3" in our_out
    assert twins.history("td") == before
    for ns in (twins.theirs, twins.ours):
        got = twins.api.get(CONFIG.format(ns)).json()
        assert got["data"]["greeting"] == "two"
    (code, _, _), (ours, _, our_err) = twins.both("rollback", "td", "7", "--dry-run")
    assert code == ours == 1 and "release has no 7 version" in our_err
    # --dry-run=none is a rollback, as helm's.
    (code, _, err), (ours, _, our_err) = twins.both("rollback", "td", "--dry-run=none")
    assert code == 0 and ours == 0, (err, our_err)
    theirs, mine = twins.history("td")
    assert theirs == mine and theirs[-1] == (3, "deployed", "Rollback to 1")


def _leave_a_conflicting_frozen_map(api: httpx.Client, namespace: str) -> None:
    """td-frozen back with other data, immutable, carrying the release's ownership: the API
    server refuses re-applying the revision that had it."""
    body = {
        "metadata": {
            "name": "td-frozen",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "td",
                "meta.helm.sh/release-namespace": namespace,
            },
        },
        "immutable": True,
        "data": {"generation": "other"},
    }
    created = api.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body)
    assert created.status_code == 201, created.text


EXTRA = "/api/v1/namespaces/{}/configmaps/td-extra"


def test_rollback_cleanup_on_fail_deletes_what_it_created_as_helm(twins: Twins) -> None:
    twins.install("td", "--set", "extra=true", "--set", "frozen=a")
    twins.upgrade("td", "--reset-values")  # td-extra and td-frozen pruned
    for ns in (twins.theirs, twins.ours):
        _leave_a_conflicting_frozen_map(twins.api, ns)
    (code, _, err), (ours, _, our_err) = twins.both("rollback", "td", "1", "--cleanup-on-fail")
    assert code == ours == 1, (err, our_err)
    assert "td-frozen" in err and "td-frozen" in our_err
    assert twins.exists(EXTRA) == (False, False)
    theirs, mine = twins.history("td")
    assert [h[:2] for h in theirs] == [h[:2] for h in mine]
    # Without the flag the rollback's new ConfigMap stays: the check above can fail.
    code, _, err = twins.cli("rollback", "td", "1", "-n", twins.ours)
    assert code == 1, err
    assert twins.exists(EXTRA)[1]


def test_rollback_history_max_wait_and_timeout_as_helms(twins: Twins) -> None:
    twins.install("td")
    twins.upgrade("td", "--set", "greeting=two")
    twins.upgrade("td", "--set", "greeting=three")
    (code, _, err), (ours, _, our_err) = twins.both(
        "rollback", "td", "1", "--history-max", "2", "--wait", "--wait-for-jobs",
        "--timeout", "50s",
    )  # fmt: skip
    assert code == 0 and ours == 0, (err, our_err)
    theirs, mine = twins.history("td")
    assert theirs == mine
    assert [h[0] for h in mine] == [3, 4]


def test_rollback_refuses_what_helmguard_cannot_do(twins: Twins) -> None:
    twins.install("td")
    twins.upgrade("td", "--set", "greeting=two")
    for flags in (("--force-replace",), ("--force",), ("--server-side=false",)):
        code, _, err = twins.cli("rollback", "td", "1", "-n", twins.ours, *flags)
        assert code == 2, (flags, err)
        assert flags[0].split("=")[0] in err
    code, _, err = twins.cli("rollback", "td", "1", "-n", twins.ours, "--description", "x" * 257)
    assert code == 2 and "description must be 256 characters or less, got 257" in err
    code, _, err = twins.cli("rollback", "td", "1", "-n", twins.ours, "--dry-run=maybe")
    assert code == 2 and 'invalid dry-run value ("maybe")' in err
    # Nothing was written: two revisions still.
    assert [h[0] for h in twins.history("td")[1]] == [1, 2]
