"""Resolving the cluster to use from kubeconfig files, as kubectl does (or in-cluster).

One file past 400 lines: merging, contexts, clusters, users and client-go's field types
are one pass over the same kubeconfig entries (`_Entry`, `_data_or_file`).

Public API:

- `load_config(kubeconfig=None, context=None) -> ClusterConfig`: `--kubeconfig`, else every
  file in `KUBECONFIG`, merged, else `~/.kube/config`, else the in-cluster ServiceAccount
  (kube/incluster.py). Every failure is a `KubeConfigError` with a fix.
- `kubeconfig_from_bytes(data, source, context=None)`: the same from a kubeconfig held in
  memory (a Secret's, kube/secretconfig.py).
- `hold_connection(name, provide)` / `release_connection(name)`: a connection held in this
  process (a cluster Secret's), which `load_config(name)` gives as `provide()` says now: a
  name in place of a kubeconfig path, so every way of connecting reaches it.
- `ClusterConfig`: the target plus TLS material and the user's credentials as configured
  (token, token file, client certificate, basic auth, an `ExecPlugin`, impersonation).
- `KubeTarget`: which cluster, context and user, as a person should see it (no secrets).

Credentials are only described here; kube/credentials.py obtains them (runs exec plugins,
re-reads token files) and kube/transport.py puts them on the wire.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from helmguard import goyaml
from helmguard.kube.errors import KubeConfigError

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1")
# How long an exec credential plugin may run before its process group is killed.
EXEC_TIMEOUT = 30.0
EXEC_TIMEOUT_ENV = "HELMGUARD_EXEC_TIMEOUT"
KubeconfigPath = str | os.PathLike[str]


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


# --- connections held in memory --------------------------------------------------------

# By the name that stands for them where a kubeconfig path would (never a file's path):
# what this process read from a cluster Secret, never written to a file.
_HELD: dict[str, Callable[[], ClusterConfig]] = {}


def hold_connection(name: str, provide: Callable[[], ClusterConfig]) -> None:
    """`load_config(name)` is `provide()` from now on: the connection to use at that moment,
    or a KubeConfigError saying why there is none (a Secret deleted, or unusable)."""
    _HELD[name] = provide


def release_connection(name: str) -> None:
    _HELD.pop(name, None)


def held_connection(name: str) -> ClusterConfig | None:
    """The connection held under `name` now (KubeConfigError: none usable); None when no
    connection is held under that name."""
    provide = _HELD.get(name)
    return provide() if provide is not None else None


# --- kubeconfig resolution ------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A named kubeconfig entry with the file it came from (relative paths resolve there)."""

    body: Mapping[str, Any]
    file: Path


def load_config(
    kubeconfig: KubeconfigPath | Sequence[KubeconfigPath] | None = None,
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
    A `kubeconfig` that names a held connection (`hold_connection`) is that connection.
    """
    if isinstance(kubeconfig, str) and kubeconfig in _HELD:
        if context:
            raise KubeConfigError(
                f"{kubeconfig} is one connection, with no contexts to pick {context!r} from.",
                fix="Drop the context.",
            )
        return _HELD[kubeconfig]()
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
    kubeconfig: KubeconfigPath | Sequence[KubeconfigPath] | None,
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
        data = path.read_bytes()
    except OSError as exc:
        raise KubeConfigError(
            f"Cannot read kubeconfig {path}: {exc.strerror}", fix="Fix or replace the file."
        ) from None
    return _parse_kubeconfig(data, path)


def _parse_kubeconfig(data: bytes, path: Path) -> Mapping[str, Any]:
    try:
        body = goyaml.load(data)
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


def kubeconfig_from_bytes(data: bytes, source: str, context: str | None = None) -> ClusterConfig:
    """A kubeconfig held in memory (a Secret's key), read as a file would be; `source` names
    it in messages (and stands for its file: relative paths in it resolve to nothing)."""
    return _from_documents([(Path(source), _parse_kubeconfig(data, Path(source)))], context)


def _from_kubeconfig(files: list[Path], context: str | None) -> ClusterConfig:
    return _from_documents([(path, _read_kubeconfig(path)) for path in files], context)


def _from_documents(
    documents: list[tuple[Path, Mapping[str, Any]]], context: str | None
) -> ClusterConfig:
    clusters: dict[str, _Entry] = {}
    users: dict[str, _Entry] = {}
    contexts: dict[str, _Entry] = {}
    current = ""
    files = [path for path, _ in documents]
    for path, doc in documents:
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
