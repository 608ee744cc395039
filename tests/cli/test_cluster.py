"""`helmguard cluster add|list|remove` and `--cluster NAME` on the commands: the registry in a
real store, kubeconfig files read by helmguard's own loader. Bad input exits 2 with the
reason and writes nothing; nothing here contacts a cluster."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from helmguard.cli import main
from helmguard.store import ReleaseKey, ReleaseRecord, open_store

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: alpha
  cluster: {server: "https://127.0.0.1:1"}
- name: beta
  cluster: {server: "https://127.0.0.1:2"}
users:
- name: someone
  user: {token: not-a-real-token}
contexts:
- name: alpha
  context: {cluster: alpha, user: someone}
- name: beta
  context: {cluster: beta, user: someone}
"""


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "helmguard.db")


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def _run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _listed(db: str) -> list[dict[str, object]]:
    result = _run("cluster", "list", "-o", "json", "--db", db)
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def test_add_list_remove(db: str, kubeconfig: str) -> None:
    added = _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--context", "beta", "--db", db)
    assert added.exit_code == 0, added.output
    assert "context 'beta' (https://127.0.0.1:2)" in added.stdout
    # No --context: the file's current-context, stored by its name.
    assert _run("cluster", "add", "a", "--kubeconfig", kubeconfig, "--db", db).exit_code == 0
    listed = _listed(db)
    assert [(c["name"], c["context"], c["kubeconfig"]) for c in listed] == [
        ("a", "alpha", str(Path(kubeconfig).resolve())),
        ("b", "beta", str(Path(kubeconfig).resolve())),
    ]
    table = _run("cluster", "list", "--db", db).stdout
    assert table.splitlines()[0].split() == ["NAME", "CONTEXT", "CONNECTION", "RELEASES", "ADDED"]
    # The token in the kubeconfig never reaches the store or the output.
    assert "not-a-real-token" not in table and b"not-a-real-token" not in Path(db).read_bytes()
    removed = _run("cluster", "remove", "a", "--db", db)
    assert removed.exit_code == 0, removed.output
    assert [c["name"] for c in _listed(db)] == ["b"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["Bad_Name", "--context", "beta"], "is not a cluster name: a DNS-1123 label"),
        (["trailing-", "--context", "beta"], "is not a cluster name: a DNS-1123 label"),
        (["x" * 64, "--context", "beta"], "is not a cluster name: a DNS-1123 label"),
        (["b", "--context", "gamma"], "Context 'gamma' is not defined"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    db: str, kubeconfig: str, args: list[str], said: str
) -> None:
    result = _run("cluster", "add", *args, "--kubeconfig", kubeconfig, "--db", db)
    assert result.exit_code == 2, result.output
    assert said in result.stderr
    assert _listed(db) == []


def test_a_missing_kubeconfig_or_a_duplicate_name_exits_2(
    db: str, kubeconfig: str, tmp_path: Path
) -> None:
    missing = _run("cluster", "add", "b", "--kubeconfig", str(tmp_path / "nope"), "--db", db)
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--db", db).exit_code == 0
    again = _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--context", "beta", "--db", db)
    assert again.exit_code == 2
    assert "cluster 'b' is already registered (context 'alpha'" in again.stderr
    assert [c["context"] for c in _listed(db)] == ["alpha"]  # the first one stays


def _record(db: str, *keys: ReleaseKey) -> None:
    async def go() -> None:
        async with await open_store(db) as store:
            for key in keys:
                await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1, "deployed"))

    asyncio.run(go())


def test_remove_is_refused_while_the_store_holds_the_clusters_releases(
    db: str, kubeconfig: str
) -> None:
    assert _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--db", db).exit_code == 0
    _record(db, ReleaseKey("default", "web", "b"), ReleaseKey("default", "web"))
    assert _listed(db)[0]["releases"] == 1
    refused = _run("cluster", "remove", "b", "--db", db)
    assert refused.exit_code == 2
    assert "holds 1 release(s) of cluster 'b' (default/web)" in refused.stderr
    assert [c["name"] for c in _listed(db)] == ["b"]
    unknown = _run("cluster", "remove", "c", "--db", db)
    assert unknown.exit_code == 2 and "registered: b" in unknown.stderr
    forgot = _run("cluster", "remove", "b", "--forget-releases", "--db", db)
    assert forgot.exit_code == 0, forgot.output

    async def left() -> list[ReleaseKey]:
        async with await open_store(db) as store:
            return [r.key for r in await store.list_releases()]

    # The default cluster's release of the same name is untouched.
    assert asyncio.run(left()) == [ReleaseKey("default", "web")]


def test_cluster_flag_resolves_in_one_place(db: str, kubeconfig: str) -> None:
    assert _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--db", db).exit_code == 0
    _record(db, ReleaseKey("default", "web", "b"), ReleaseKey("default", "api"))
    unknown = _run("status", "--cluster", "c", "--db", db)
    assert unknown.exit_code == 2
    assert "cluster 'c' is not registered; registered: b" in unknown.stderr
    for flag in ("--kube-context", "--kubeconfig"):
        both = _run("uninstall", "web", "--cluster", "b", flag, "x", "--db", db)
        assert both.exit_code == 2
        assert f"--cluster b and {flag} exclude each other" in both.stderr
    # Without --cluster, every cluster's releases; with it, that cluster's only.
    everything = _run("status", "-o", "json", "--db", db)
    assert everything.exit_code == 0, everything.output
    names = {(r["cluster"], r["name"]) for r in json.loads(everything.stdout)["releases"]}
    assert names == {("", "api"), ("b", "web")}
    table = _run("status", "--db", db).stdout
    assert table.splitlines()[0].split()[0] == "CLUSTER" and "(default)" in table
    only_b = _run("status", "-o", "json", "--cluster", "b", "--db", db)
    assert [r["name"] for r in json.loads(only_b.stdout)["releases"]] == ["web"]
    # Store-only commands take the key too.
    managed = _run("manage", "web", "--cluster", "b", "--db", db)
    assert managed.exit_code == 0, managed.output
    assert "in cluster 'b' is managed" in managed.stdout
    nowhere = _run("transitions", "web", "--cluster", "zz", "--db", db)
    assert nowhere.exit_code == 2 and "registered: b" in nowhere.stderr


def test_cluster_flag_without_a_registry(tmp_path: Path) -> None:
    result = _run("status", "--cluster", "b", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2
    assert "--cluster b: no cluster registry to read" in result.stderr


def test_serve_refuses_clusters_it_cannot_sync(
    db: str, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELMGUARD_API_TOKEN", "t" * 40)
    assert _run("cluster", "add", "b", "--kubeconfig", kubeconfig, "--db", db).exit_code == 0
    for args, said in [
        (["--no-default-cluster"], "--no-default-cluster leaves nothing to sync"),
        (["--all-clusters", "--cluster", "b"], "--all-clusters already syncs every"),
        (["--no-default-cluster", "--cluster", "b", "--kube-context", "x"], "choose the default"),
        (["--cluster-secrets-namespace", "Bad_NS"], "'Bad_NS' is not a namespace name"),
        (["--cluster", "c", "--kubeconfig", kubeconfig], "cluster 'c' is not registered in"),
    ]:
        result = _run("serve", "--no-api", *args, "--db", db)
        assert result.exit_code == 2, (args, result.output)
        assert said in result.stderr, (args, result.stderr)
    assert "registered: b" in result.stderr
    Path(kubeconfig).unlink()  # b's kubeconfig is gone: named, before anything runs
    gone = _run("serve", "--no-api", "--no-default-cluster", "--all-clusters", "--db", db)
    assert gone.exit_code == 2
    assert "cluster b: kubeconfig file" in gone.stderr and "does not exist" in gone.stderr


def test_a_cluster_in_a_secret_needs_a_cluster_to_read_it_from(db: str, tmp_path: Path) -> None:
    from helmguard.store import ClusterRecord

    async def add() -> None:
        async with await open_store(db) as store:
            assert await store.add_cluster(ClusterRecord("b", "", "", secret="hg/cluster-b"))

    asyncio.run(add())
    listed = _listed(db)
    assert [(c["name"], c["secret"], c["kubeconfig"]) for c in listed] == [
        ("b", "hg/cluster-b", "")
    ]
    assert "Secret hg/cluster-b" in _run("cluster", "list", "--db", db).stdout
    # No kubeconfig anywhere and not a pod: no cluster to read the Secret from, for the
    # CLI (a target: its Secret is read through the kubeconfig context in use) and serve.
    nowhere = {"HOME": str(tmp_path), "KUBECONFIG": "", "KUBERNETES_SERVICE_HOST": ""}
    refused = CliRunner().invoke(main, ["status", "x", "--cluster", "b", "--db", db], env=nowhere)
    assert refused.exit_code == 2, refused.output
    assert "cluster 'b': cannot read Secret hg/cluster-b: the cluster helmguard runs in " in (
        refused.stderr
    )
    # A command that reads only the store does not read the Secret.
    read = CliRunner().invoke(main, ["transitions", "x", "--cluster", "b", "--db", db], env=nowhere)
    assert read.exit_code == 0, read.output
    result = CliRunner().invoke(
        main, ["serve", "--db", db, "--no-api", "--no-default-cluster", "--cluster", "b"],
        env=nowhere,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cluster b's connection is in Secret hg/cluster-b, and there is no cluster to " in (
        result.stderr
    )
