"""Every Kubernetes API failure as one class with `retryable`, a plain message and a fix.

`ApiError` is the API server's refusal as it came (its Status object, the request), raised
by `Kube` (kube/client.py) before any classification. The taxonomy: `KubeError` and its
subclasses (`KubeConfigError`, `MissingDependency`, `PermissionDenied`, ..., `Transient`,
`Unclassified`), with the raw Status kept verbatim on `.status`. Light to import (no HTTP
stack): kube/classifier.py maps failures onto it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helmguard.manifest import ObjectRef


class ApiError(Exception):
    """The API server answered a request with an error and a Status object (JSON).

    `status` is the Status body verbatim; `code`, `reason`, `message` and `details` read its
    fields as metav1.Status defines them (`code` falls back to the HTTP status). `method` and
    `url` are the request's; `retry_after` is the Retry-After header as sent ("" if none).
    """

    def __init__(
        self,
        status: Mapping[str, Any],
        *,
        http_status: int = 0,
        method: str = "",
        url: str = "",
        retry_after: str = "",
    ) -> None:
        self.status: dict[str, Any] = dict(status)
        self.http_status = http_status
        self.method = method
        self.url = url
        self.retry_after = retry_after
        super().__init__(self.message or f"HTTP {self.code}")

    @property
    def code(self) -> int:
        """The Status `code` (the HTTP status code the server answered with)."""
        return int(self.status.get("code") or self.http_status)

    @property
    def reason(self) -> str:
        """The Status `reason`: `NotFound`, `Forbidden`, `Invalid`, `Conflict`, ... or ""."""
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        """The Status `message`, verbatim."""
        return str(self.status.get("message") or "")

    @property
    def details(self) -> dict[str, Any]:
        """The Status `details` (name, group, kind, causes, retryAfterSeconds), or {}."""
        details = self.status.get("details")
        return dict(details) if isinstance(details, Mapping) else {}


@dataclass(frozen=True)
class Cause:
    """One entry of a Status's `details.causes`: why a field was rejected."""

    reason: str
    message: str
    field: str


@dataclass(frozen=True)
class Target:
    """What the failed request was about, from the Status details and the request URL."""

    resource: str = ""  # plural resource, e.g. "pods", "roles"
    group: str = ""
    name: str = ""
    namespace: str = ""
    verb: str = ""  # HTTP method of the request, when known

    def __str__(self) -> str:
        what = self.resource or "object"
        if self.group:
            what = f"{what}.{self.group}"
        if self.name:
            what = f'{what} "{self.name}"'
        if self.namespace:
            what = f'{what} in namespace "{self.namespace}"'
        return what


class KubeError(Exception):
    """An API failure, classified. `message` is for a person; `status` is the raw Status."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        status: Mapping[str, Any] | None = None,
        code: int = 0,
        target: Target | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.status: dict[str, Any] = dict(status or {})
        self.code = code or int(self.status.get("code") or 0)
        self.target = target or Target()
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """The Status reason (`Forbidden`, `Invalid`, `Conflict`...), or ""."""
        return str(self.status.get("reason") or "")

    @property
    def api_message(self) -> str:
        """The API server's own message, verbatim."""
        return str(self.status.get("message") or "")

    @property
    def causes(self) -> tuple[Cause, ...]:
        """The Status `details.causes`, in order."""
        details = self.status.get("details") or {}
        return tuple(
            Cause(
                str(c.get("reason") or ""), str(c.get("message") or ""), str(c.get("field") or "")
            )
            for c in details.get("causes") or ()
        )

    def explain(self) -> str:
        """The message and, when there is one, the fix, as a person should read them."""
        return f"{self.message}\nFix: {self.fix}" if self.fix else self.message

    def __str__(self) -> str:
        return self.message


class KubeConfigError(KubeError):
    """The cluster cannot be reached as configured: kubeconfig, context, credentials plugin."""


class MissingDependency(KubeError):
    """Something the object needs does not exist: ServiceAccount, namespace, API kind..."""

    def __init__(self, message: str, *, dependency: ObjectRef | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.dependency = dependency


class PermissionDenied(KubeError):
    """RBAC refused the request: `user` cannot `verb` `resource` in `group`/`namespace`."""

    def __init__(
        self,
        message: str,
        *,
        user: str = "",
        verb: str = "",
        resource: str = "",
        group: str = "",
        namespace: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.user = user
        self.verb = verb
        self.resource = resource
        self.group = group
        self.namespace = namespace  # "" means the cluster scope


class EscalationDenied(KubeError):
    """A Role/binding would grant permissions its creator does not hold."""

    def __init__(self, message: str, *, user: str = "", missing: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.user = user
        self.missing = missing  # the rules the server listed as not held, verbatim


class QuotaExceeded(KubeError):
    """A ResourceQuota refused the object (over the limit, or requests/limits missing)."""

    def __init__(self, message: str, *, quota: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.quota = quota


class PolicyViolation(KubeError):
    """An admission policy refused the object: PodSecurity, LimitRange, webhook, VAP."""

    def __init__(self, message: str, *, policy: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.policy = policy  # e.g. 'PodSecurity "restricted:latest"', 'webhook "x"'


class NamespaceTerminating(KubeError):
    """The namespace is being deleted; nothing new can be created in it."""


class Invalid(KubeError):
    """The object failed validation: a 422 (`causes` name each rejected field), or a body
    the API server cannot read as its kind (a wrong type or unknown field: 400, or a 500
    from server-side apply); `fields` are the paths the server named."""

    def __init__(self, message: str, *, fields: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.fields = fields or tuple(c.field for c in self.causes if c.field)


class Conflict(KubeError):
    """Another writer holds the fields (SSA) or changed the object first (optimistic lock)."""

    def __init__(self, message: str, *, managers: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.managers = managers  # SSA field managers in conflict, when known


class OwnershipConflict(KubeError):
    """The object belongs to another release; raised by helmguard, never by the server."""

    def __init__(self, obj: ObjectRef, *, owner: str, release: str) -> None:
        super().__init__(
            f"{obj} already exists and belongs to release {owner!r}, not {release!r}; "
            "helmguard will not take it over.",
            fix=f"Uninstall release {owner!r}, rename the object in {release!r}, "
            "or delete the object if it is no longer used.",
        )
        self.object = obj
        self.owner = owner
        self.release = release


class Unauthorized(KubeError):
    """401: the credentials are missing, wrong or expired."""


class Transient(KubeError):
    """Worth retrying: throttled (429), server error (5xx), timeout, connection failure."""

    retryable = True


class Unclassified(KubeError):
    """An error no rule recognises, kept verbatim."""
