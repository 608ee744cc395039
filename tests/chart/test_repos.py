"""Repository credentials: sealed under a key outside the database, opened only to fetch,
never part of a repository's public view; the key's own mistakes are named."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from helmguard.chart import repos
from helmguard.chart.repos import KEY_ENV_VAR, RepositoryError, auth_for, new_repository

PASSWORD = "hunter2-6d1f"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    return tmp_path / "config"


def test_the_secret_is_sealed_opened_for_fetching_and_never_in_the_view() -> None:
    record = new_repository("r", "https://charts.example", username="u", password=PASSWORD)
    assert record.secret is not None and PASSWORD not in record.secret
    assert repos.key_path().stat().st_mode & 0o777 == 0o600
    auth = auth_for(record)
    assert (auth.username, auth.password, auth.token) == ("u", PASSWORD, "")
    view = repos.public_view(record)
    assert view["auth"] == "basic"
    assert PASSWORD not in str(view) and "'u'" not in str(view)
    token = new_repository("t", "https://charts.example", token=PASSWORD)
    assert (auth_for(token).token, auth_for(token).password) == (PASSWORD, "")
    assert repos.public_view(token)["auth"] == "token"
    assert new_repository("n", "https://charts.example").secret is None


def test_a_key_others_can_read_is_refused() -> None:
    new_repository("r", "https://charts.example", username="u", password=PASSWORD)
    repos.key_path().chmod(0o644)
    with pytest.raises(RepositoryError, match="readable by other users"):
        new_repository("r2", "https://charts.example", username="u", password=PASSWORD)


def test_a_changed_key_says_to_add_the_repository_again(monkeypatch: pytest.MonkeyPatch) -> None:
    record = new_repository("r", "https://charts.example", username="u", password=PASSWORD)
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(KEY_ENV_VAR, other)
    with pytest.raises(RepositoryError, match=r"sealed with another key.*repo remove r"):
        auth_for(record)
    monkeypatch.setenv(KEY_ENV_VAR, "short")
    with pytest.raises(RepositoryError, match="32 url-safe base64-encoded bytes"):
        auth_for(record)
