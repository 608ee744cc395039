"""Credentials for each request: static ones, token files, and exec credential plugins.

`Credentials(config).get()` returns the `Credential` to send (a bearer token and/or a client
certificate). A token file is re-read when it changes (in-cluster rotation); an exec plugin of
`client.authentication.k8s.io/v1beta1` or `/v1` is run without a terminal, killed with its
process group after `ExecPlugin.timeout` ($HELMGUARD_EXEC_TIMEOUT, read by kube/config.py),
and its credential cached per plugin and server until its `expirationTimestamp`. `get(stale=)`
gives a new credential after a 401. Failures are `KubeConfigError`s with a fix.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from helmguard.kube.config import EXEC_TIMEOUT_ENV, ClusterConfig, ExecPlugin
from helmguard.kube.errors import KubeConfigError

# An exec credential is refreshed this long before it expires, so no request races expiry.
_EXPIRY_SKEW = timedelta(seconds=10)


@dataclass(frozen=True)
class Credential:
    """What goes on the wire: a bearer token and/or a client certificate."""

    token: str = field(default="", repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    expires: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires - _EXPIRY_SKEW


# Exec credentials are shared by every Kube in the process, as kubectl caches per plugin.
_EXEC_CACHE: dict[tuple[ExecPlugin, str], Credential] = {}


class Credentials:
    """Produces the credential for each request; refreshable ones re-read/re-run on 401."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._static = Credential(
            token=config.token, cert_pem=config.client_cert_pem, key_pem=config.client_key_pem
        )
        self._file_state: tuple[float, str] | None = None
        self._lock = asyncio.Lock()

    @property
    def refreshable(self) -> bool:
        return self._config.exec_plugin is not None or self._config.token_file is not None

    async def get(self, *, stale: Credential | None = None) -> Credential:
        """The current credential; a new one if `stale` is the one that just got a 401."""
        plugin = self._config.exec_plugin
        if plugin is not None:
            async with self._lock:
                key = (plugin, self._config.target.server)
                cached = _EXEC_CACHE.get(key)
                if cached is None or cached is stale or not cached.fresh(datetime.now(UTC)):
                    cached = _EXEC_CACHE[key] = await _run_exec_plugin(plugin, self._config)
                return cached
        if self._config.token_file is not None:
            return replace(self._static, token=self._read_token_file(force=stale is not None))
        return self._static

    def _read_token_file(self, *, force: bool) -> str:
        path = self._config.token_file
        assert path is not None
        try:
            mtime = path.stat().st_mtime
            if force or self._file_state is None or self._file_state[0] != mtime:
                self._file_state = (mtime, path.read_text().strip())
        except OSError as exc:
            raise KubeConfigError(
                f"Cannot read the token file {path}: {exc.strerror}.",
                fix="Fix tokenFile in the kubeconfig user, or mount the ServiceAccount token.",
            ) from None
        return self._file_state[1]


async def _run_exec_plugin(plugin: ExecPlugin, config: ClusterConfig) -> Credential:
    """Run an exec credential plugin and parse its ExecCredential (v1beta1 or v1)."""
    name = f"exec credential plugin {plugin.command!r} (user {config.target.user!r})"
    hint = plugin.install_hint.strip()
    if plugin.interactive_mode == "Always":
        raise KubeConfigError(
            f"{name} needs an interactive terminal (interactiveMode: Always); helmguard runs "
            "plugins without one.",
            fix="Log in with the plugin first (e.g. run kubectl once), or use a "
            "non-interactive credential.",
        )
    spec: dict[str, Any] = {"interactive": False}
    if plugin.provide_cluster_info:
        cluster: dict[str, Any] = {"server": config.target.server}
        if config.ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(config.ca_pem).decode()
        if config.insecure:
            cluster["insecure-skip-tls-verify"] = True
        if config.tls_server_name:
            cluster["tls-server-name"] = config.tls_server_name
        spec["cluster"] = cluster
    env = dict(os.environ)
    env.update(plugin.env)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            plugin.command,
            *plugin.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own process group: whatever the plugin starts is killed with it.
            start_new_session=True,
        )
    except FileNotFoundError:
        raise KubeConfigError(
            f"{name} was not found.",
            fix=hint or "Install the plugin or fix users[].user.exec.command in the kubeconfig.",
        ) from None
    except PermissionError:
        raise KubeConfigError(
            f"{name} is not executable.", fix=f"chmod +x {plugin.command}"
        ) from None
    out, err, finished = await _collect(proc, plugin.timeout)
    stderr = err.decode(errors="replace").strip()
    if not finished:
        raise KubeConfigError(
            f"{name} did not finish within {plugin.timeout:g}s and was killed; its stderr: "
            f"{stderr[-2000:] or '(none)'}",
            fix="Run the plugin by hand to see what it waits for (a login prompt?); "
            f"{EXEC_TIMEOUT_ENV} sets how long it may take.",
        )
    if proc.returncode != 0:
        raise KubeConfigError(
            f"{name} failed with exit code {proc.returncode}: {stderr or '(no stderr)'}",
            fix=hint or "Run the plugin by hand, fix what it reports (often: log in again).",
        )
    try:
        body = json.loads(out)
    except ValueError:
        raise KubeConfigError(
            f"{name} printed something that is not an ExecCredential JSON: {out[:200]!r}",
            fix="Check the plugin's version and arguments.",
        ) from None
    if not isinstance(body, dict) or body.get("kind") != "ExecCredential":
        raise KubeConfigError(
            f"{name} printed JSON that is not an ExecCredential.",
            fix="Check the plugin's version and arguments.",
        )
    if body.get("apiVersion") != plugin.api_version:
        raise KubeConfigError(
            f"{name} answered with apiVersion {body.get('apiVersion')!r}, but the kubeconfig "
            f"asks for {plugin.api_version!r}.",
            fix="Set users[].user.exec.apiVersion to the version the plugin speaks.",
        )
    status = body.get("status") or {}
    token = str(status.get("token") or "")
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if not token and not (cert and key):
        raise KubeConfigError(
            f"{name} returned neither a token nor a client certificate and key.",
            fix="Check the plugin's configuration.",
        )
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"]))
        except ValueError:
            raise KubeConfigError(
                f"{name} returned an invalid expirationTimestamp "
                f"{status['expirationTimestamp']!r} (RFC 3339 expected).",
                fix="Check the plugin's version.",
            ) from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
    return Credential(
        token=token,
        cert_pem=str(cert).encode() if cert and key else None,
        key_pem=str(key).encode() if cert and key else None,
        expires=expires,
    )


async def _collect(proc: asyncio.subprocess.Process, seconds: float) -> tuple[bytes, bytes, bool]:
    """The plugin's stdout and stderr, and whether it exited within `seconds`.

    Its process group is killed when the time is up or the caller is cancelled, so no
    plugin (nor anything it started) outlives the request that needed it.
    """
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()

    async def drain(stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(65536):
            into += chunk

    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(drain(proc.stdout, out), drain(proc.stderr, err))
            await proc.wait()
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        return bytes(out), bytes(err), False
    except BaseException:
        _kill_group(proc)
        raise
    return bytes(out), bytes(err), True


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
