"""What the templates are told, held to the helm binary: the same chart deployed by `helm` in
one namespace and by helmguard in another, on the same sandbox; the ConfigMap each render
wrote (`.Release`, `.Capabilities`, what `lookup` found) must say the same, revision after
revision, and the Secret generated on install only must keep its value on upgrades.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from helmcli import Helm, helm_binary
from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, Result, deploy
from helmguard.deploy.rollback import rollback
from helmguard.deploy.uninstall import uninstall
from helmguard.sandbox.cluster import Sandbox

CHART = Path(__file__).parent / "charts" / "context"
RELEASE = "ctx"


@dataclass(frozen=True)
class Twins:
    """One release name deployed by helm in `ns_helm` and by helmguard in `ns_ours`."""

    helm: Helm
    api: httpx2.Client
    ns_helm: str
    ns_ours: str
    options: DeployOptions

    def by_helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.helm.run(*args, "-n", self.ns_helm, check=False)

    def helm_deploy(self, *sets: str) -> subprocess.CompletedProcess[str]:
        set_args = [a for s in sets for a in ("--set", s)]
        return self.by_helm("upgrade", "--install", RELEASE, str(CHART), *set_args)

    async def our_deploy(self, *sets: str, force: bool = False) -> Result:
        request = RenderRequest(
            str(CHART),
            release=RELEASE,
            namespace=self.ns_ours,
            values=ValuesOptions(set_values=sets),
        )
        options = DeployOptions(**{**self.options.__dict__, "force": force})
        return await deploy(request, options)

    async def both(self, *sets: str, fails: bool = False) -> None:
        """`helm upgrade --install` and helmguard's deploy with `sets`; the same outcome."""
        done = self.helm_deploy(*sets)
        # helm has no preflight gate: helmguard's is skipped where the revision must fail.
        ours = await self.our_deploy(*sets, force=fails)
        assert (done.returncode != 0) == fails, done.stderr
        assert (not ours.ok) == fails, ours.message

    def rendered(self, namespace: str) -> dict[str, str]:
        """The context ConfigMap's data on the cluster, its namespace written NS."""
        return _normalised(self._get(namespace, "configmaps", f"{RELEASE}-context"), namespace)

    def password(self, namespace: str) -> tuple[str, str]:
        data = self._get(namespace, "secrets", f"{RELEASE}-password")
        return (
            base64.b64decode(data["password"]).decode(),
            base64.b64decode(data["generatedAt"]).decode(),
        )

    def _get(self, namespace: str, resource: str, name: str) -> dict[str, str]:
        got = self.api.get(f"/api/v1/namespaces/{namespace}/{resource}/{name}")
        assert got.status_code == 200, got.text
        return dict(got.json()["data"])

    def hooks_run(self, namespace: str) -> dict[str, tuple[str, str]]:
        """The chart's hook ServiceAccounts left: event -> (revision, IsUpgrade) rendered."""
        listed = self.api.get(f"/api/v1/namespaces/{namespace}/serviceaccounts")
        assert listed.status_code == 200, listed.text
        out = {}
        for item in listed.json()["items"]:
            annotations = item["metadata"].get("annotations") or {}
            if "helm.sh/hook" in annotations:
                out[annotations["helm.sh/hook"]] = (
                    annotations["helmguard.test/revision"],
                    annotations["helmguard.test/upgrade"],
                )
        return out

    def history(self, namespace: str) -> list[tuple[int, str, str]]:
        """(revision, status, description) of every record, as `helm history` reads them (a
        failed one's description holds the API server's error, worded by each client)."""
        done = self.helm.run("history", RELEASE, "-n", namespace, "-o", "json")
        return [
            (
                int(r["revision"]),
                r["status"],
                "" if " failed: " in r["description"] else r["description"],
            )
            for r in yaml.safe_load(done.stdout)
        ]

    def stored_context(self, namespace: str, revision: int) -> dict[str, str]:
        """The context ConfigMap in the manifest of the stored `revision`."""
        done = self.helm.run(
            "get", "manifest", RELEASE, "-n", namespace, "--revision", str(revision)
        )
        for doc in yaml.safe_load_all(done.stdout):
            if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-context"):
                return _normalised(doc["data"], namespace)
        raise AssertionError(f"no context ConfigMap in revision {revision}:\n{done.stdout}")

    def same(self, what: str) -> dict[str, str]:
        """Both renders' ConfigMaps and both histories agree; the (helm) ConfigMap."""
        ours, theirs = self.rendered(self.ns_ours), self.rendered(self.ns_helm)
        _same_context(theirs, ours, what)
        assert self.hooks_run(self.ns_ours) == self.hooks_run(self.ns_helm), what
        assert self.history(self.ns_ours) == self.history(self.ns_helm), what
        return theirs


def _same_context(helm: dict[str, str], ours: dict[str, str], what: str) -> None:
    """The two renders' ConfigMaps say the same (`_normalised` both)."""
    helm, ours = dict(helm), dict(ours)
    # helm-python-sdk adds the versions it is given to Helm's DefaultVersionSet (its
    # client-go scheme's group versions, no kinds): helm on a cluster lists only the
    # cluster's. The kinds ("G/V/Kind") are the cluster's exactly.
    defaults = _engine_default_versions()
    mine = set(ours.pop("apiVersions").split("\n"))
    cluster = set(helm.pop("apiVersions").split("\n"))
    assert mine == cluster | defaults, (
        f"{what}: only helm's {sorted(cluster - mine)}, "
        f"only ours {sorted(mine - cluster - defaults)}"
    )
    assert all(v.count("/") < 2 for v in defaults)
    assert ours == helm, f"{what}: " + _differences(helm, ours)


@functools.cache
def _engine_default_versions() -> frozenset[str]:
    """The API versions helmguard's engine renders with when given none."""
    rendered = render_chart(RenderRequest(str(CHART)))
    data = next(o.body["data"] for o in rendered.objects if o.kind == "ConfigMap")
    return frozenset(json.loads(data["apiVersions"]))


def _normalised(data: dict[str, Any], namespace: str) -> dict[str, str]:
    out = {k: str(v).replace(namespace, "NS") for k, v in data.items()}
    if "apiVersions" in out:  # a Go map's keys: in no order
        out["apiVersions"] = "\n".join(sorted(json.loads(out["apiVersions"])))
    return out


def _differences(helm: dict[str, str], ours: dict[str, str]) -> str:
    keys = sorted(set(helm) | set(ours))
    return "; ".join(
        f"{k}: helm {helm.get(k)!r}, helmguard {ours.get(k)!r}"
        for k in keys
        if helm.get(k) != ours.get(k)
    )


@pytest.fixture
def twins(helm: Helm, admin_http: httpx2.Client, pair: tuple[str, str], sandbox: Sandbox) -> Twins:
    options = DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90)
    return Twins(helm, admin_http, *pair, options)


async def test_release_context_revision_after_revision_as_helms(twins: Twins) -> None:
    await twins.both("marker=a")
    first = twins.same("install")
    assert (first["revision"], first["isInstall"], first["isUpgrade"]) == ("1", "true", "false")
    assert (first["name"], first["namespace"], first["service"]) == (RELEASE, "NS", "Helm")
    # lookup read the live cluster on install: the namespace, and the ConfigMaps then there
    # (kube-root-ca.crt only: the release's own are created after the render).
    assert (first["lookupNamespace"], first["lookupConfigMaps"]) == ("NS", "1")
    passwords = {ns: twins.password(ns) for ns in (twins.ns_helm, twins.ns_ours)}
    assert all(p[1] == "revision 1" for p in passwords.values())

    for number, marker in ((2, "b"), (3, "c")):
        await twins.both(f"marker={marker}")
        seen = twins.same(f"upgrade to revision {number}")
        assert (seen["revision"], seen["isInstall"], seen["isUpgrade"]) == (
            str(number),
            "false",
            "true",
        )
        assert seen["lookupConfigMaps"] == "2"
        # The password the install generated is kept: lookup found the Secret.
        for ns, password in passwords.items():
            assert twins.password(ns) == password, f"upgrade {number} changed {ns}'s password"

    await twins.both("marker=d", "broken=true", fails=True)
    assert twins.history(twins.ns_ours) == twins.history(twins.ns_helm)
    assert twins.history(twins.ns_helm)[-1][:2] == (4, "failed")

    await twins.both("marker=e")
    after_failure = twins.same("upgrade after a failed revision")
    assert (after_failure["revision"], after_failure["isUpgrade"]) == ("5", "true")
    for ns, password in passwords.items():
        assert twins.password(ns) == password


async def test_a_failed_first_install_is_upgraded_as_helms(twins: Twins) -> None:
    await twins.both("broken=true", fails=True)
    assert twins.history(twins.ns_ours) == twins.history(twins.ns_helm)
    await twins.both("broken=false")
    seen = twins.same("deploy after a failed first install")
    # helm upgrades a release whose only revision failed: revision 2, IsUpgrade.
    assert (seen["revision"], seen["isInstall"], seen["isUpgrade"]) == ("2", "false", "true")
    assert [r[:2] for r in twins.history(twins.ns_helm)] == [(1, "superseded"), (2, "deployed")]
    # The failed install ran its pre-install hook; the deploy after it is an upgrade's.
    assert twins.hooks_run(twins.ns_helm) == {
        "pre-install": ("1", "false"),
        "pre-upgrade": ("2", "true"),
        "post-upgrade": ("2", "true"),
    }


async def test_install_over_an_uninstalled_release_and_rollback_as_helms(twins: Twins) -> None:
    for marker in ("a", "b"):
        await twins.both(f"marker={marker}")
    before = {ns: twins.password(ns) for ns in (twins.ns_helm, twins.ns_ours)}
    done = twins.by_helm("uninstall", RELEASE, "--keep-history")
    assert done.returncode == 0, done.stderr
    kept = DeployOptions(**{**twins.options.__dict__, "keep_history": True})
    gone = await uninstall(twins.ns_ours, RELEASE, kept)
    assert gone.ok, gone.message
    assert twins.history(twins.ns_ours) == twins.history(twins.ns_helm)

    # `upgrade --install` of an uninstalled release is helm's install replacing it: rendered
    # as revision 1, an install, and stored as revision 3.
    await twins.both("marker=c")
    again = twins.same("install over an uninstalled release")
    assert (again["revision"], again["isInstall"], again["isUpgrade"]) == ("1", "true", "false")
    assert [r[0] for r in twins.history(twins.ns_helm)] == [1, 2, 3]
    for ns in before:
        # The Secret went with the uninstall: a new one, generated by this install.
        assert twins.password(ns)[1] == "revision 1"
        assert twins.password(ns) != before[ns]

    # A rollback re-applies revision 2's stored manifest, rendered then: revision "2".
    done = twins.by_helm("rollback", RELEASE, "2")
    assert done.returncode == 0, done.stderr
    back = await rollback(twins.ns_ours, RELEASE, 2, twins.options)
    assert back.ok, back.message
    rolled = twins.same("rollback to revision 2")
    assert (rolled["revision"], rolled["marker"]) == ("2", "b")
    _same_context(
        twins.stored_context(twins.ns_helm, 4),
        twins.stored_context(twins.ns_ours, 4),
        "the rollback's record",
    )
    assert twins.stored_context(twins.ns_helm, 4)["revision"] == "2"
    for ns, password in before.items():
        assert twins.password(ns) == password, f"rollback to 2 restores {ns}'s password"


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("--is-upgrade",),
        ("--kube-version", "1.30.2", "--api-versions", "example.com/v1/Widget"),
        ("--api-versions", "apps/v1/Deployment,batch/v1/Job", "--is-upgrade"),
    ],
)
def test_render_assumes_what_helm_template_assumes(flags: tuple[str, ...]) -> None:
    """helmguard render and helm template: revision 1, an install unless --is-upgrade, Helm's
    default capabilities plus --kube-version/--api-versions, a lookup that finds nothing."""
    from click.testing import CliRunner

    from helmguard.cli import main

    args = ["r", str(CHART), "-n", "ns1", *flags]
    helm = subprocess.run(
        [str(helm_binary()), "template", *args], capture_output=True, text=True, check=True
    )
    ours = CliRunner().invoke(main, ["render", *args])
    assert ours.exit_code == 0, ours.output

    def context(text: str) -> dict[str, str]:
        docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ConfigMap"]
        return _normalised(docs[0]["data"], "ns1")

    ours_seen, seen = context(ours.stdout), context(helm.stdout)
    if "--kube-version" not in flags:
        # Helm's default is the Kubernetes its build compiled against: helm-python-sdk's
        # engine (helm v4.2.3, v1.36) need not be the helm binary's.
        version_keys = ("kubeVersion", "kubeGitVersion", "kubeMajor", "kubeMinor")
        for key in version_keys:
            assert ours_seen.pop(key).removeprefix("v")[:1] == seen.pop(key).removeprefix("v")[:1]
    # The default API versions are that build's Kubernetes scheme too; both add the
    # --api-versions given.
    given = {
        v for i, f in enumerate(flags) if f == "--api-versions" for v in flags[i + 1].split(",")
    }
    for listed in (ours_seen.pop("apiVersions"), seen.pop("apiVersions")):
        assert given <= set(listed.split("\n"))
    assert ours_seen == seen
    assert seen["revision"] == "1"
    assert seen["lookupNamespace"] == "(nothing)"


async def test_check_and_diff_render_as_the_deploy_would(twins: Twins, sandbox: Sandbox) -> None:
    """helmguard's render of a deploy to come (check, diff upgrade) against helm's own
    `--dry-run=server` of it, on one release: before its install and after."""
    from click.testing import CliRunner

    from helmguard.cli import main
    from helmguard.deploy.context import as_deployed
    from helmguard.kube.client import connect

    ns = twins.ns_helm
    request = RenderRequest(str(CHART), release=RELEASE, namespace=ns)

    def helm_dry_run(*args: str) -> dict[str, str]:
        done = twins.by_helm(*args, RELEASE, str(CHART), "--dry-run=server")
        assert done.returncode == 0, done.stderr
        docs = yaml.safe_load_all(done.stdout.split("\nMANIFEST:\n", 1)[1])
        return next(_normalised(d["data"], ns) for d in docs if d and d["kind"] == "ConfigMap")

    async def ours() -> dict[str, str]:
        from helmguard.chart.capabilities import capabilities_from, with_capabilities

        async with await connect(sandbox.kubeconfig) as kube:
            prepared = await as_deployed(kube, request, timeout=30)
            caps = capabilities_from(await kube.version(), await kube.discovery.resources())
        rendered = render_chart(with_capabilities(prepared, caps))
        return _normalised(
            next(o.body["data"] for o in rendered.objects if o.kind == "ConfigMap"), ns
        )

    _same_context(helm_dry_run("install"), await ours(), "install --dry-run=server")
    done = twins.helm_deploy("marker=a")
    assert done.returncode == 0, done.stderr
    upgrade = helm_dry_run("upgrade")
    assert upgrade["revision"] == "2"
    _same_context(upgrade, await ours(), "upgrade --dry-run=server")
    args = ["check", RELEASE, str(CHART), "-n", ns, "--kubeconfig", str(sandbox.kubeconfig)]
    checked = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert checked.exit_code == 0, checked.output


def test_check_as_an_identity_that_cannot_read_the_records_says_so(
    sandbox: Sandbox, namespace: str
) -> None:
    """Without the right to read the release's records, check renders the install and says
    so; the chart's `lookup` is then refused, as helm's would be for that identity."""
    from click.testing import CliRunner

    from helmguard.cli import main

    webapp = Path(__file__).parents[1] / "chart" / "charts" / "webapp"
    common = ["-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)]
    restricted = [*common, "--kube-context", sandbox.restricted_context]
    checked = CliRunner().invoke(main, ["check", "web", str(webapp), *restricted])
    assert checked.exit_code == 1, checked.output  # alice may create nothing: findings
    assert "cannot read the records of release" in checked.stderr
    assert "rendered as its install (.Release.Revision 1)" in checked.stderr
    looked = CliRunner().invoke(main, ["check", RELEASE, str(CHART), *restricted])
    assert looked.exit_code == 2, looked.output
    assert "forbidden" in looked.stderr and "template error" in looked.stderr


async def test_diff_upgrade_shows_the_revision_the_upgrade_renders(twins: Twins) -> None:
    """After helm's install and two upgrades, helmguard's diff of the next upgrade renders
    it as helm's would: the ConfigMap says revision 4, the Secret's value is kept."""
    from helmguard.deploy.diff import diff_upgrade

    for marker in ("a", "b", "c"):
        done = twins.helm_deploy(f"marker={marker}")
        assert done.returncode == 0, done.stderr
    request = RenderRequest(
        str(CHART),
        release=RELEASE,
        namespace=twins.ns_helm,
        values=ValuesOptions(set_values=("marker=c",)),
    )
    diff = await diff_upgrade(request, twins.options)
    changed = {c.ref.name: c.diff for c in diff.changes}
    text = changed[f"{RELEASE}-context"]
    assert "-  revision: '3'" in text and "+  revision: '4'" in text, text
    assert "isUpgrade" not in text  # true, as it was
    # lookup found the Secret: its value is not among the changes.
    secret = changed.get(f"{RELEASE}-password", "").splitlines()
    assert not [line for line in secret if line[:1] in "+-" and "password:" in line], secret
