"""`helmguard diff upgrade|rollback`: exactly what would change against the live objects,
Secret values never shown, nothing written; bad input exits 2 (with helm's own history as
the witness that nothing was recorded)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from click.testing import CliRunner

from helmcli import Helm
from helmguard.cli import main
from helmguard.deploy.diff import mask_secrets, object_change
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox

CHART = Path(__file__).parent / "charts" / "diffable"
PASSWORD = "s3cret-pa55"


def _secret(**values: str) -> dict[str, object]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}


def test_secret_values_are_masked_with_their_size_and_whether_they_change() -> None:
    old, new = mask_secrets(
        _secret(user="admin", password="old-value"), _secret(user="admin", password="new")
    )
    assert old is not None and new is not None
    assert old["data"] == {"password": "-------- # (9 bytes)", "user": "REDACTED # (5 bytes)"}
    assert new["data"] == {"password": "++++++++ # (3 bytes)", "user": "REDACTED # (5 bytes)"}
    ref = ObjectRef("", "Secret", "shop", "s")
    change = object_change(ref, "v1", _secret(password="old-value"), _secret(password="new"))
    assert change is not None and change.change == "changed"
    assert "old-value" not in change.diff and "new" not in change.diff.replace("++++", "")
    assert object_change(ref, "v1", _secret(password="x"), _secret(password="x")) is None
    added = object_change(ref, "v1", None, _secret(password="x"))
    assert added is not None and added.change == "added" and "REDACTED" not in added.diff


def _diff(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["diff", *args, "--kubeconfig", str(sandbox.kubeconfig)], env=env
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _deploy(sandbox: Sandbox, namespace: str, *sets: str) -> None:
    args = ["deploy", str(CHART), "--release", "shop", "-n", namespace, "--no-store", "--no-wait"]
    result = CliRunner().invoke(
        main, [*args, *sets, "--timeout", "90s", "--kubeconfig", str(sandbox.kubeconfig)]
    )
    assert result.exit_code == 0, result.output


def _headers(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.endswith(":") and ", " in line]


def test_diff_upgrade_shows_exactly_a_changed_key_and_a_removed_service(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client
) -> None:
    _deploy(sandbox, namespace)
    args = ("upgrade", "shop", str(CHART), "-n", namespace, "--detailed-exitcode")

    code, out, err = _diff(
        sandbox, *args, "--set", "greeting=bye", "--set", "service.enabled=false"
    )
    assert code == 1, err
    assert _headers(out) == [
        f"{namespace}, shop-settings, ConfigMap (v1) has changed:",
        f"{namespace}, shop-web, Service (v1) has been removed:",
    ], out
    assert "-  greeting: hello" in out and "+  greeting: bye" in out
    assert "colour" in out  # context around the change
    assert PASSWORD not in out + err
    assert base64.b64encode(PASSWORD.encode()).decode() not in out + err
    assert "1 changed, 1 removed" in err
    # Nothing was written: the live ConfigMap and Service are as the deploy left them.
    live = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/shop-settings").json()
    assert live["data"]["greeting"] == "hello"
    assert admin_http.get(f"/api/v1/namespaces/{namespace}/services/shop-web").status_code == 200

    code, out, err = _diff(sandbox, *args)
    assert code == 0, err
    assert _headers(out) == [] and "no changes" in err

    code, out, err = _diff(sandbox, *args, "--set", "password=an0ther-one")
    assert code == 1, err
    assert _headers(out) == [f"{namespace}, shop-credentials, Secret (v1) has changed:"], out
    assert "-  password: '-------- # (11 bytes)'" in out
    assert "+  password: '++++++++ # (11 bytes)'" in out
    assert "   user: 'REDACTED # (10 bytes)'" in out
    assert PASSWORD not in out + err and "an0ther-one" not in out + err
    for value in (PASSWORD, "an0ther-one", "admin-user"):
        assert base64.b64encode(value.encode()).decode() not in out + err


def test_diff_rollback_shows_what_the_previous_revision_restores(
    sandbox: Sandbox, namespace: str
) -> None:
    _deploy(sandbox, namespace)
    _deploy(sandbox, namespace, "--set", "service.enabled=false")

    code, out, err = _diff(sandbox, "rollback", "shop", "-n", namespace, "--detailed-exitcode")
    assert code == 1, err
    assert _headers(out) == [f"{namespace}, shop-web, Service (v1) has been added:"], out
    assert "to revision 1" in err
    code, out, err = _diff(sandbox, "rollback", "shop", "2", "-n", namespace, "-o", "json")
    assert code == 0, err
    assert '"changes": []' in out


def test_diff_bad_input_exits_2_naming_the_problem(
    sandbox: Sandbox, namespace: str, helm: Helm
) -> None:
    code, _, err = _diff(sandbox, "rollback", "absent", "-n", namespace)
    assert code == 2 and f"release {namespace}/absent has no stored revisions" in err
    helm.run("install", "shop", str(CHART), "-n", namespace)
    code, _, err = _diff(sandbox, "rollback", "shop", "-n", namespace)
    assert code == 2 and "has only revision 1: no previous one" in err
    code, _, err = _diff(sandbox, "rollback", "shop", "7", "-n", namespace)
    assert code == 2 and "has no revision 7 (stored: 1;" in err
    code, _, err = _diff(sandbox, "rollback", "shop", "0", "-n", namespace)
    assert code == 2 and "REVISION" in err
    code, _, err = _diff(sandbox, "upgrade", "shop", str(CHART), "--context", "-1")
    assert code == 2 and "--context" in err
    code, _, err = _diff(sandbox, "upgrade", "shop", str(CHART), "--reuse-values", "--reset-values")
    assert code == 2 and "exclude each other" in err
    code, _, err = _diff(sandbox, "upgrade", "shop", str(CHART), "-n", namespace, "-f", "nope.yaml")
    assert code == 2 and "nope.yaml" in err
    code, _, err = _diff(sandbox, "rollback", "shop", "-n", namespace, env={"HELM_DRIVER": "sql"})
    assert code == 2 and "HELM_DRIVER='sql'" in err
    assert [r["revision"] for r in helm.json("history", "shop", "-n", namespace)] == [1]
