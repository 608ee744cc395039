"""Connecting to a cluster: kubeconfig/in-cluster resolution and an async lightkube client.

Public API:

- `await connect(kubeconfig=None, context=None, ...) -> Kube`: resolve the cluster as kubectl
  does (`--kubeconfig`, else every file in `KUBECONFIG`, merged, else `~/.kube/config`,
  else the in-cluster ServiceAccount), check the credentials with `GET /version`, and
  return a `Kube`. Every failure is a `KubeError` with a fix (`KubeConfigError`,
  `Unauthorized`, `Transient`).
- `load_config(kubeconfig=None, context=None) -> ClusterConfig`: the resolution alone.
- `Kube`: `.client` (a `lightkube.AsyncClient`), `.target` (a `KubeTarget`: which cluster,
  context, user), `.discovery` (served API resources, cached), `.requests` (API requests
  sent, for `-v` output), `get_json(path)`, `aclose()`; also an async context manager.

Credentials: bearer token, token file (re-read when it changes: in-cluster rotation),
client certificate, basic auth, and exec plugins of `client.authentication.k8s.io/v1beta1`
and `/v1`. lightkube's own ExecAuth refuses `/v1` (its `_prepare` whitelists v1alpha1 and
v1beta1), so helmguard runs exec plugins itself: every request goes through one httpx2
transport of ours that adds the credential, caches an exec credential until its
`expirationTimestamp`, re-runs the plugin once on a 401, and counts requests. lightkube
gets a credential-free config and that transport, through its public constructor.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import signal
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx2
import lightkube
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import Cluster, Context, User
from lightkube.core.exceptions import ApiError

from helmguard import goyaml
from helmguard.kube.discovery import Discovery
from helmguard.kube.errors import KubeConfigError, retry

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1")
# An exec credential is refreshed this long before it expires, so no request races expiry.
_EXPIRY_SKEW = timedelta(seconds=10)
# How long an exec credential plugin may run before its process group is killed.
EXEC_TIMEOUT = 30.0
EXEC_TIMEOUT_ENV = "HELMGUARD_EXEC_TIMEOUT"
_PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster helmguard talks to, as a person should see it. Holds no secrets."""

    server: str
    context: str  # "" for in-cluster
    cluster: str
    user: str
    namespace: str
    source: str  # the kubeconfig file(s), or "in-cluster ServiceAccount"
    auth: str  # "client-certificate", "token", "token-file", "exec <apiVersion>", ...

    def __str__(self) -> str:
        ctx = f"context {self.context!r}" if self.context else "in-cluster"
        return f"{ctx} ({self.server}, user {self.user!r}, auth {self.auth}, from {self.source})"


@dataclass(frozen=True)
class ExecPlugin:
    """A kubeconfig `users[].user.exec` credential plugin."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    provide_cluster_info: bool = False
    interactive_mode: str = "IfAvailable"
    timeout: float = EXEC_TIMEOUT  # seconds; $HELMGUARD_EXEC_TIMEOUT


@dataclass(frozen=True)
class ClusterConfig:
    """Everything needed to connect: the target plus TLS and credentials (not in repr)."""

    target: KubeTarget
    ca_pem: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    tls_server_name: str = ""
    proxy_url: str = ""
    token: str = field(default="", repr=False)
    token_file: Path | None = None
    client_cert_pem: bytes | None = field(default=None, repr=False)
    client_key_pem: bytes | None = field(default=None, repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    exec_plugin: ExecPlugin | None = None
    impersonate_user: str = ""
    impersonate_groups: tuple[str, ...] = ()
    impersonate_uid: str = ""

    def with_token(self, token: str, user: str = "bearer token") -> ClusterConfig:
        """The same cluster, authenticated only by `token` (no certificate, no plugin)."""
        return replace(
            self,
            target=replace(self.target, user=user, auth="token"),
            token=token,
            token_file=None,
            client_cert_pem=None,
            client_key_pem=None,
            username="",
            password="",
            exec_plugin=None,
        )

    def impersonating(self, user: str, groups: Sequence[str] = ()) -> ClusterConfig:
        """The same credentials, acting as `user` (Impersonate-User / -Group headers)."""
        return replace(self, impersonate_user=user, impersonate_groups=tuple(groups))


# --- kubeconfig resolution ------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A named kubeconfig entry with the file it came from (relative paths resolve there)."""

    body: Mapping[str, Any]
    file: Path


def load_config(
    kubeconfig: _PathLike | Sequence[_PathLike] | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path | None = None,
) -> ClusterConfig:
    """Resolve the cluster to use, the way kubectl does.

    Order: `kubeconfig` (a path or several, each must exist), else `KUBECONFIG` (paths
    joined by os.pathsep, merged: the first file to define a name or current-context
    wins; missing files are skipped), else `~/.kube/config`, else the in-cluster
    ServiceAccount. Raises `KubeConfigError` naming what was tried and what to do.
    """
    env = os.environ if environ is None else environ
    config = _resolve_config(kubeconfig, context, env, service_account_dir)
    if config.exec_plugin is not None:
        plugin = replace(config.exec_plugin, timeout=_exec_timeout(env))
        config = replace(config, exec_plugin=plugin)
    return config


def _exec_timeout(env: Mapping[str, str]) -> float:
    text = env.get(EXEC_TIMEOUT_ENV, "").strip()
    if not text:
        return EXEC_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:
        raise KubeConfigError(
            f"{EXEC_TIMEOUT_ENV}={text!r} is not a number of seconds between 0 and 3600.",
            fix=f"Set {EXEC_TIMEOUT_ENV} to the seconds an exec credential plugin may take "
            f"(default {EXEC_TIMEOUT:g}), or unset it.",
        )
    return seconds


def _resolve_config(
    kubeconfig: _PathLike | Sequence[_PathLike] | None,
    context: str | None,
    env: Mapping[str, str],
    service_account_dir: Path | None,
) -> ClusterConfig:
    files: list[Path]
    if kubeconfig is not None:
        given = [kubeconfig] if isinstance(kubeconfig, str | os.PathLike) else list(kubeconfig)
        files = [Path(p).expanduser() for p in given]
        for path in files:
            if not path.is_file():
                raise KubeConfigError(
                    f"kubeconfig file {path} does not exist.",
                    fix="Pass an existing file with --kubeconfig.",
                )
    elif env.get("KUBECONFIG"):
        listed = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
        files = [p for p in listed if p.is_file()]
        if not files:
            raise KubeConfigError(
                "None of the kubeconfig files in KUBECONFIG exist: "
                + ", ".join(str(p) for p in listed),
                fix="Fix the KUBECONFIG environment variable or pass --kubeconfig.",
            )
    else:
        default = Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"
        files = [default] if default.is_file() else []
        if not files:
            from helmguard.kube import incluster  # the hook: a pod's own ServiceAccount

            found = incluster.config(env, service_account_dir) if context is None else None
            if found is not None:
                return found
            raise KubeConfigError(
                f"No kubeconfig found: --kubeconfig not given, KUBECONFIG not set, {default} "
                "does not exist, and this is not a pod with a ServiceAccount token.",
                fix="Pass --kubeconfig, set KUBECONFIG, or run inside the cluster.",
            )
    return _from_kubeconfig(files, context)


# client-go's clientcmd/api/v1 types for the fields of a kubeconfig: client-go decodes the
# file (YAML -> JSON) into these Go types and refuses a value of another JSON type, so a
# quoted "false" is an error, never a truthy string. "bytes" is []byte: base64 text.
_Schema = str | list[Any] | dict[str, Any]
_EXTENSIONS: _Schema = [{"name": "string"}]
_CLUSTER: _Schema = {
    "server": "string",
    "tls-server-name": "string",
    "insecure-skip-tls-verify": "bool",
    "certificate-authority": "string",
    "certificate-authority-data": "bytes",
    "proxy-url": "string",
    "disable-compression": "bool",
    "extensions": _EXTENSIONS,
}
_EXEC: _Schema = {
    "command": "string",
    "args": ["string"],
    "env": [{"name": "string", "value": "string"}],
    "apiVersion": "string",
    "installHint": "string",
    "provideClusterInfo": "bool",
    "interactiveMode": "string",
}
_AUTH_INFO: _Schema = {
    "client-certificate": "string",
    "client-certificate-data": "bytes",
    "client-key": "string",
    "client-key-data": "bytes",
    "token": "string",
    "tokenFile": "string",
    "as": "string",
    "as-uid": "string",
    "as-groups": ["string"],
    "as-user-extra": {"*": ["string"]},
    "username": "string",
    "password": "string",
    "auth-provider": {"name": "string", "config": {"*": "string"}},
    "exec": _EXEC,
    "extensions": _EXTENSIONS,
}
_CONTEXT: _Schema = {
    "cluster": "string",
    "user": "string",
    "namespace": "string",
    "extensions": _EXTENSIONS,
}
_KUBECONFIG: _Schema = {
    "kind": "string",
    "apiVersion": "string",
    "preferences": {"colors": "bool", "extensions": _EXTENSIONS},
    "clusters": [{"name": "string", "cluster": _CLUSTER}],
    "users": [{"name": "string", "user": _AUTH_INFO}],
    "contexts": [{"name": "string", "context": _CONTEXT}],
    "current-context": "string",
    "extensions": _EXTENSIONS,
}
_GO_TYPES = {"string": "string", "bool": "bool", "bytes": "[]byte"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "number"


def _type_errors(value: Any, schema: _Schema, path: str) -> Iterator[str]:
    """Where `value` does not decode into client-go's type `schema` (null always does)."""
    if value is None:
        return
    if isinstance(schema, str):
        kind = _json_kind(value)
        want = "string" if schema == "bytes" else schema
        if kind != want:
            yield f"{path} is a {kind}, client-go wants a {_GO_TYPES[schema]}"
        elif schema == "bytes":
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                yield f"{path} is not base64 data"
    elif isinstance(schema, list):
        if not isinstance(value, list):
            yield f"{path} is a {_json_kind(value)}, client-go wants a list"
            return
        for index, item in enumerate(value):
            yield from _type_errors(item, schema[0], f"{path}[{index}]")
    else:
        if not isinstance(value, dict):
            yield f"{path} is a {_json_kind(value)}, client-go wants a mapping"
            return
        for key, item in value.items():
            field_schema = schema.get("*", schema.get(key))
            if field_schema is not None:
                yield from _type_errors(item, field_schema, f"{path}.{key}" if path else key)


def _read_kubeconfig(path: Path) -> Mapping[str, Any]:
    """One kubeconfig file as client-go reads it: Go's YAML, then client-go's field types."""
    try:
        body = goyaml.load(path.read_bytes())
    except OSError as exc:
        raise KubeConfigError(
            f"Cannot read kubeconfig {path}: {exc.strerror}", fix="Fix or replace the file."
        ) from None
    except goyaml.YAMLError as exc:
        raise KubeConfigError(
            f"Cannot read kubeconfig {path}: invalid YAML: {exc}", fix="Fix or replace the file."
        ) from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise KubeConfigError(
            f"kubeconfig {path} is not a YAML mapping.", fix="Fix or replace the file."
        )
    errors = list(_type_errors(body, _KUBECONFIG, ""))
    if errors:
        raise KubeConfigError(
            f"Cannot read kubeconfig {path}: {errors[0]}.",
            fix="Write booleans unquoted (true/false), text quoted where it looks like a "
            "number, and *-data fields as base64.",
        )
    return body


def _from_kubeconfig(files: list[Path], context: str | None) -> ClusterConfig:
    clusters: dict[str, _Entry] = {}
    users: dict[str, _Entry] = {}
    contexts: dict[str, _Entry] = {}
    current = ""
    for path in files:
        doc = _read_kubeconfig(path)
        for section, key, into in (
            ("clusters", "cluster", clusters),
            ("users", "user", users),
            ("contexts", "context", contexts),
        ):
            for item in doc.get(section) or ():
                name = str((item or {}).get("name") or "")
                if name and name not in into:
                    into[name] = _Entry(item.get(key) or {}, path)
        current = current or str(doc.get("current-context") or "")
    source = os.pathsep.join(str(p) for p in files)
    available = ", ".join(sorted(contexts)) or "none"
    name = context or current
    if not name:
        raise KubeConfigError(
            f"No current-context is set in {source} (contexts: {available}).",
            fix="Pass --kube-context NAME or run `kubectl config use-context NAME`.",
        )
    if name not in contexts:
        raise KubeConfigError(
            f"Context {name!r} is not defined in {source}. Available contexts: {available}.",
            fix="Pass --kube-context with one of the available contexts.",
        )
    ctx = contexts[name].body
    cluster_name = str(ctx.get("cluster") or "")
    if cluster_name not in clusters:
        raise KubeConfigError(
            f"Context {name!r} refers to cluster {cluster_name!r}, which is not defined in "
            f"{source}.",
            fix="Add the cluster to the kubeconfig or fix the context.",
        )
    user_name = str(ctx.get("user") or "")
    if user_name and user_name not in users:
        raise KubeConfigError(
            f"Context {name!r} refers to user {user_name!r}, which is not defined in {source}.",
            fix="Add the user to the kubeconfig or fix the context.",
        )
    cluster = clusters[cluster_name]
    server = str(cluster.body.get("server") or "")
    if not server:
        raise KubeConfigError(
            f"Cluster {cluster_name!r} in {cluster.file} has no server.",
            fix="Set clusters[].cluster.server to the API server's URL.",
        )
    ca = _data_or_file(cluster, "certificate-authority", f"cluster {cluster_name!r}")
    config = ClusterConfig(
        target=KubeTarget(
            server=server,
            context=name,
            cluster=cluster_name,
            user=user_name,
            namespace=str(ctx.get("namespace") or "default"),
            source=source,
            auth="none",
        ),
        ca_pem=ca,
        insecure=bool(cluster.body.get("insecure-skip-tls-verify")),
        tls_server_name=str(cluster.body.get("tls-server-name") or ""),
        proxy_url=str(cluster.body.get("proxy-url") or ""),
    )
    if user_name:
        config = _with_user(config, user_name, users[user_name])
    return config


def _with_user(config: ClusterConfig, name: str, entry: _Entry) -> ClusterConfig:
    """Add the credentials of kubeconfig user `name` to `config`."""
    user = entry.body
    what = f"user {name!r}"
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise KubeConfigError(
            f"{what} in {entry.file} uses the auth-provider {provider!r}, which Kubernetes "
            "clients no longer support.",
            fix="Use the provider's exec credential plugin instead (e.g. kubelogin, "
            "gke-gcloud-auth-plugin).",
        )
    cert = _data_or_file(entry, "client-certificate", what)
    key = _data_or_file(entry, "client-key", what)
    if (cert is None) != (key is None):
        raise KubeConfigError(
            f"{what} in {entry.file} has a client certificate without its key (or the reverse).",
            fix="Set both client-certificate(-data) and client-key(-data).",
        )
    token_file = None
    if user.get("tokenFile"):
        token_file = _resolve(entry.file, str(user["tokenFile"]))
    plugin = _exec_plugin(entry, what) if user.get("exec") else None
    auth = (
        f"exec {plugin.api_version}"
        if plugin
        else "token"
        if user.get("token")
        else "token-file"
        if token_file
        else "client-certificate"
        if cert
        else "basic"
        if user.get("username")
        else "none"
    )
    return replace(
        config,
        target=replace(config.target, auth=auth),
        token=str(user.get("token") or ""),
        token_file=token_file,
        client_cert_pem=cert,
        client_key_pem=key,
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
        exec_plugin=plugin,
        impersonate_user=str(user.get("as") or ""),
        impersonate_groups=tuple(str(g) for g in user.get("as-groups") or ()),
        impersonate_uid=str(user.get("as-uid") or ""),
    )


def _exec_plugin(entry: _Entry, what: str) -> ExecPlugin:
    spec = entry.body["exec"] or {}
    api_version = str(spec.get("apiVersion") or "")
    if api_version not in EXEC_API_VERSIONS:
        raise KubeConfigError(
            f"{what} in {entry.file}: exec plugin apiVersion {api_version!r} is not supported "
            f"(supported: {', '.join(EXEC_API_VERSIONS)}).",
            fix="Set users[].user.exec.apiVersion to client.authentication.k8s.io/v1.",
        )
    command = str(spec.get("command") or "")
    if not command:
        raise KubeConfigError(
            f"{what} in {entry.file}: exec plugin has no command.",
            fix="Set users[].user.exec.command.",
        )
    # client-go resolves a command with a directory part relative to the kubeconfig file.
    if os.sep in command and not Path(command).is_absolute():
        command = str(entry.file.parent / command)
    env = tuple((str(e["name"]), str(e.get("value") or "")) for e in spec.get("env") or ())
    return ExecPlugin(
        api_version=api_version,
        command=command,
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=env,
        install_hint=str(spec.get("installHint") or ""),
        provide_cluster_info=bool(spec.get("provideClusterInfo")),
        interactive_mode=str(spec.get("interactiveMode") or "IfAvailable"),
    )


def _resolve(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base.parent / p


def _data_or_file(entry: _Entry, key: str, what: str) -> bytes | None:
    """`<key>-data` (base64) or the file `<key>` (relative to its kubeconfig), as PEM bytes."""
    data = entry.body.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except binascii.Error:
            raise KubeConfigError(
                f"{what} in {entry.file}: {key}-data is not valid base64.",
                fix=f"Re-encode it with `base64 -w0` or use {key} with a file path.",
            ) from None
    path = entry.body.get(key)
    if not path:
        return None
    resolved = _resolve(entry.file, str(path))
    try:
        return resolved.read_bytes()
    except OSError as exc:
        raise KubeConfigError(
            f"{what} in {entry.file}: cannot read {key} {resolved}: {exc.strerror}.",
            fix=f"Fix the {key} path or embed the file with {key}-data.",
        ) from None


# --- credentials ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Credential:
    """What goes on the wire: a bearer token and/or a client certificate."""

    token: str = field(default="", repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    expires: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires - _EXPIRY_SKEW


# Exec credentials are shared by every Kube in the process, as kubectl caches per plugin.
_EXEC_CACHE: dict[tuple[ExecPlugin, str], _Credential] = {}


class _Credentials:
    """Produces the credential for each request; refreshable ones re-read/re-run on 401."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._static = _Credential(
            token=config.token, cert_pem=config.client_cert_pem, key_pem=config.client_key_pem
        )
        self._file_state: tuple[float, str] | None = None
        self._lock = asyncio.Lock()

    @property
    def refreshable(self) -> bool:
        return self._config.exec_plugin is not None or self._config.token_file is not None

    async def get(self, *, stale: _Credential | None = None) -> _Credential:
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


async def _run_exec_plugin(plugin: ExecPlugin, config: ClusterConfig) -> _Credential:
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
    return _Credential(
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


# --- transport -----------------------------------------------------------------------


def _ssl_context(config: ClusterConfig, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    """Trust the cluster's CA (or skip verification if configured) and present `cert`."""
    try:
        if config.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif config.ca_pem:
            ctx = ssl.create_default_context(cadata=config.ca_pem.decode(errors="replace"))
        else:
            ctx = ssl.create_default_context()
    except ssl.SSLError as exc:
        raise KubeConfigError(
            f"The certificate authority of cluster {config.target.cluster!r} is not valid PEM: "
            f"{exc}.",
            fix="Fix certificate-authority(-data) in the kubeconfig cluster.",
        ) from None
    if cert and key:
        # ssl can load a certificate chain only from files; they live just long enough.
        with tempfile.TemporaryDirectory(prefix="helmguard-") as tmp:
            cert_file, key_file = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            try:
                ctx.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise KubeConfigError(
                    f"The client certificate of user {config.target.user!r} cannot be used: {exc}.",
                    fix="Check that client-certificate and client-key are PEM and match.",
                ) from None
    return ctx


class _Transport(httpx2.AsyncBaseTransport):
    """Adds credentials and impersonation to each request, counts requests."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._credentials = _Credentials(config)
        self._pools: dict[tuple[bytes | None, bytes | None], httpx2.AsyncHTTPTransport] = {}
        self.requests = 0
        # Fail on bad TLS material now, not on the first request.
        self._pool(_Credential(cert_pem=config.client_cert_pem, key_pem=config.client_key_pem))

    def _pool(self, cred: _Credential) -> httpx2.AsyncHTTPTransport:
        key = (cred.cert_pem, cred.key_pem)
        if key not in self._pools:
            self._pools[key] = httpx2.AsyncHTTPTransport(
                verify=_ssl_context(self._config, cred.cert_pem, cred.key_pem),
                proxy=self._config.proxy_url or None,
                trust_env=False,
                # Each watch holds a connection for minutes: a cap (httpx's 100) would leave
                # informers past it waiting forever and starve every other request.
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=20),
            )
        return self._pools[key]

    async def credential(self) -> None:
        """Obtain the credential now (running an exec plugin if need be), without a request."""
        await self._credentials.get()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        cred = await self._credentials.get()
        response = await self._send(request, cred)
        if response.status_code == 401 and self._credentials.refreshable:
            await response.aclose()
            cred = await self._credentials.get(stale=cred)
            response = await self._send(request, cred)
        return response

    async def _send(self, request: httpx2.Request, cred: _Credential) -> httpx2.Response:
        config = self._config
        headers = [
            (k, v)
            for k, v in request.headers.multi_items()
            if k.lower() != "authorization" and not k.lower().startswith("impersonate-")
        ]
        if cred.token:
            headers.append(("Authorization", f"Bearer {cred.token}"))
        elif config.username:
            basic = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
            headers.append(("Authorization", f"Basic {basic}"))
        if config.impersonate_user:
            headers.append(("Impersonate-User", config.impersonate_user))
            headers.extend(("Impersonate-Group", g) for g in config.impersonate_groups)
            if config.impersonate_uid:
                headers.append(("Impersonate-Uid", config.impersonate_uid))
        request.headers = httpx2.Headers(headers)
        if config.tls_server_name:
            request.extensions = {**request.extensions, "sni_hostname": config.tls_server_name}
        self.requests += 1
        return await self._pool(cred).handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


# --- the client ----------------------------------------------------------------------


class Kube:
    """A connection to one cluster: a lightkube AsyncClient plus discovery and raw GETs."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        field_manager: str = "helmguard",
        timeout: float = 10.0,
    ) -> None:
        self.config = config
        self.target = config.target
        self._transport = _Transport(config)
        # lightkube gets no credentials: the transport adds them (see module docstring).
        bare = SingleConfig(
            context_name=config.target.context or "in-cluster",
            context=Context(cluster="target", user="target", namespace=config.target.namespace),
            cluster=Cluster(server=config.target.server),
            user=User(),
        )
        self.client = lightkube.AsyncClient(
            bare,
            namespace=config.target.namespace,
            timeout=httpx2.Timeout(timeout),
            field_manager=field_manager,
            trust_env=False,
            transport=self._transport,
        )
        self._http = httpx2.AsyncClient(
            base_url=config.target.server,
            transport=self._transport,
            timeout=timeout,
            trust_env=False,
        )
        self.discovery = Discovery(self.get_json)

    @property
    def requests(self) -> int:
        """How many HTTP requests this connection has sent (retries after a 401 included)."""
        return self._transport.requests

    @property
    def namespace(self) -> str:
        """The context's namespace ("default" if the context sets none)."""
        return self.target.namespace

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        accept: str = "",
    ) -> Any:
        """GET an API path (e.g. `/apis/apps/v1`) and decode it; raises lightkube ApiError.

        `accept` asks for another representation (e.g. PartialObjectMetadataList).
        """
        return await self.send_json("GET", path, params=params, accept=accept)

    async def send_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "",
    ) -> Any:
        """Send `body` as JSON to an API path and decode the answer; raises lightkube ApiError.

        For calls lightkube has no typed method for (TokenRequest, reviews, raw paths).
        """
        headers = {"Content-Type": content_type} if body is not None else {}
        if accept:
            headers["Accept"] = accept
        response = await self._http.request(
            method,
            path,
            params=dict(params or {}),
            content=None if body is None else json.dumps(body).encode(),
            headers=headers or None,
        )
        if response.is_error:
            if response.headers.get("Content-Type", "").startswith("application/json"):
                raise ApiError(request=response.request, response=response)
            response.raise_for_status()
        return response.json()

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, params: Mapping[str, str] | None = None, *, connect_timeout: float = 10.0
    ) -> AsyncIterator[httpx2.Response]:
        """GET an API path as a stream (a watch): no read timeout; raises ApiError on an error.

        The caller reads the event lines from `response.aiter_bytes()` and decides itself how long
        silence may last (a watch is quiet for as long as nothing changes).
        """
        timeout = httpx2.Timeout(connect_timeout, read=None, write=connect_timeout, pool=None)
        async with self._http.stream(
            "GET", path, params=dict(params or {}), timeout=timeout
        ) as response:
            if response.is_error:
                await response.aread()
                if response.headers.get("Content-Type", "").startswith("application/json"):
                    raise ApiError(request=response.request, response=response)
                response.raise_for_status()
            yield response

    async def authenticate(self) -> None:
        """Obtain the credential (an exec plugin runs here, within its own timeout)."""
        await self._transport.credential()

    async def version(self) -> dict[str, Any]:
        """The server's /version (gitVersion, ...): proves reachability and credentials."""
        body = await self.get_json("/version")
        return dict(body)

    async def aclose(self) -> None:
        """Close connections; the Kube cannot be used afterwards."""
        with contextlib.suppress(Exception):
            await self.client.close()
        await self._http.aclose()
        await self._transport.aclose()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def connect(
    kubeconfig: _PathLike | Sequence[_PathLike] | None = None,
    context: str | None = None,
    *,
    field_manager: str = "helmguard",
    timeout: float = 10.0,  # noqa: ASYNC109 - also each request's timeout, not just this call's
    verify: bool = True,
) -> Kube:
    """Connect to the cluster `load_config` resolves; with `verify`, prove it answers.

    Verification is one `GET /version`, retried on transient errors for up to `timeout`
    seconds; it raises `Unauthorized` for rejected credentials, `Transient` for an
    unreachable server, `KubeConfigError` for configuration and exec plugin problems.
    """
    return await connect_config(
        load_config(kubeconfig, context),
        field_manager=field_manager,
        timeout=timeout,
        verify=verify,
    )


async def connect_config(
    config: ClusterConfig,
    *,
    field_manager: str = "helmguard",
    timeout: float = 10.0,  # noqa: ASYNC109 - also each request's timeout, not just this call's
    verify: bool = True,
) -> Kube:
    """Like `connect`, from an already resolved (or adjusted) `ClusterConfig`."""
    kube = Kube(config, field_manager=field_manager, timeout=timeout)
    if verify:
        try:
            # First the credential: a failing plugin is named, not the API server.
            await kube.authenticate()
            await retry(kube.version, timeout=timeout)
        except BaseException:
            await kube.aclose()
            raise
    return kube
