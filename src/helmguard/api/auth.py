"""The API's bearer token: from $HELMGUARD_API_TOKEN, else generated once into the config dir."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

import platformdirs

ENV_VAR = "HELMGUARD_API_TOKEN"
MIN_LENGTH = 32  # a shorter token can be guessed; the generated ones have 43 characters


class TokenError(ValueError):
    """The configured token is unusable (too short); the message says how to fix it."""


def _checked(token: str, where: str) -> str:
    if len(token) < MIN_LENGTH:
        raise TokenError(
            f"the API token in {where} has {len(token)} characters; it needs at least "
            f"{MIN_LENGTH} (generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return token


def token_path() -> Path:
    """`api-token` in the user's config directory (e.g. ~/.config/helmguard/api-token)."""
    return Path(platformdirs.user_config_dir("helmguard")) / "api-token"


def load_or_create_token(path: Path | None = None) -> str:
    """$HELMGUARD_API_TOKEN if set; else the token file's contents, created (mode 0600) if absent.

    An existing token file readable by others is refused: anyone who can read it could
    deploy to the cluster. A token shorter than MIN_LENGTH raises TokenError.
    """
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return _checked(from_env, f"${ENV_VAR}")
    file = path or token_path()
    if file.exists():
        mode = file.stat().st_mode & 0o077
        if mode:
            raise PermissionError(
                f"{file} is readable by other users (mode {oct(file.stat().st_mode & 0o777)}); "
                f"run `chmod 600 {file}`"
            )
        token = file.read_text().strip()
        if token:
            return _checked(token, str(file))
    file.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # Created with 0600 from the start, so the token is never readable by others.
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode(), expected.encode())
