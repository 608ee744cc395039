"""`helmguard repo`: a real repository served from charts helm packaged; bad input exits 2
with the reason and registers nothing; `repo list` never prints a credential."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chartrepo import serve_repository
from helmguard.cli import main
from helmguard.sandbox.pki import generate_pki

USER, PASSWORD = "cli-reader", "cli-pw-31c9aa"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("HELMGUARD_REPO_KEY", raising=False)
    return str(tmp_path / "helmguard.db")


@pytest.fixture
def private_repo(tmp_path: Path) -> Iterator[str]:
    with serve_repository(tmp_path, basic=(USER, PASSWORD)) as url:
        yield url


def _repo(db: str, *args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["repo", *args, "--db", db], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_add_list_update_remove_with_basic_auth(db: str, private_repo: str, tmp_path: Path) -> None:
    added = _repo(
        db,
        "add",
        "private",
        private_repo,
        "--username",
        USER,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert '"private" has been added (helm, 1 charts)' in added.output
    key = tmp_path / "config" / "helmguard" / "repo-key"
    assert key.stat().st_mode & 0o777 == 0o600
    listed = _repo(db, "list")
    assert listed.exit_code == 0
    assert "private" in listed.output and "basic" in listed.output
    as_json = _repo(db, "list", "-o", "json")
    for output in (added.output, listed.output, as_json.output):
        assert PASSWORD not in output and USER not in output
    updated = _repo(db, "update")
    assert updated.exit_code == 0
    assert 'from the "private" chart repository (1 charts)' in updated.output
    assert _repo(db, "update", "private").exit_code == 0
    removed = _repo(db, "remove", "private")
    assert removed.exit_code == 0 and '"private" has been removed' in removed.output
    assert "no repositories registered" in _repo(db, "list").output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "Not_OK", "https://example.invalid"], None, "a repository name is"),
        (["add", "ok", "example.invalid/charts"], None, "http:// or https://"),
        (["add", "ok", "https://me:pw@example.invalid"], None, "credentials in the URL"),
        (["add", "ok", "https://example.invalid", "--password-stdin"], "", "stdin was empty"),
        (["add", "ok", "https://example.invalid", "--password-stdin"], "pw", "needs --username"),
        (
            ["add", "ok", "https://example.invalid", "--password-stdin", "--token-stdin"],
            "x",
            "exclude each other",
        ),
        (["add", "ok", "https://example.invalid", "--ca-file", "/no/such"], None, "no such file"),
        (["add", "ok", "http://127.0.0.1:1"], None, "cannot fetch"),
        (["update", "missing"], None, "no repository named 'missing'"),
        (["remove", "missing"], None, "no repository named 'missing'"),
        (["remove", "UPPER"], None, "a repository name is"),
    ],
)
def test_bad_input_exits_2_and_registers_nothing(
    db: str, args: list[str], stdin: str | None, message: str
) -> None:
    result = _repo(db, *args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "no repositories registered" in _repo(db, "list").output


def test_wrong_password_and_duplicate_names(db: str, private_repo: str) -> None:
    wrong = _repo(
        db, "add", "p", private_repo, "--username", USER, "--password-stdin", stdin="nope"
    )
    assert wrong.exit_code == 2
    assert "HTTP 401" in wrong.stderr
    assert "no repositories registered" in _repo(db, "list").output
    assert (
        _repo(
            db, "add", "p", private_repo, "--username", USER, "--password-stdin", stdin=PASSWORD
        ).exit_code
        == 0
    )
    again = _repo(db, "add", "p", private_repo)
    assert again.exit_code == 2 and "already registered" in again.stderr


def test_https_repository_needs_its_ca_or_an_explicit_skip(db: str, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    generate_pki(pki)
    with serve_repository(tmp_path, pki=pki) as url:
        untrusted = _repo(db, "add", "tls", url)
        assert untrusted.exit_code == 2
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
        trusted = _repo(db, "add", "tls", url, "--ca-file", str(pki / "ca.crt"))
        assert trusted.exit_code == 0, trusted.output
        skipped = _repo(db, "add", "tls2", url, "--insecure-skip-tls-verify")
        assert skipped.exit_code == 0, skipped.output
        assert _repo(db, "update").exit_code == 0
        views = json.loads(_repo(db, "list", "-o", "json").output)
        assert [(v["name"], v["ca_file"], v["insecure_skip_tls_verify"]) for v in views] == [
            ("tls", str(pki / "ca.crt"), False),
            ("tls2", "", True),
        ]
