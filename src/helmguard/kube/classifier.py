"""The one classifier of Kubernetes API failures, and `retry` on what it calls retryable.

One file past 400 lines: every rule reads the same Status message, and their order decides.

`classify(exc)` takes an `ApiError` (kube/errors.py: the Status the server answered), an
httpx2 status or transport error or a timeout and returns a `KubeError` subclass. A 403 means
nothing on its own: the Status message decides (a missing ServiceAccount, RBAC, a quota and
PodSecurity all answer 403). Anything not recognised becomes `Unclassified`, never dropped.

`retry(fn, timeout=...)` re-runs an async call on retryable errors with jittered
exponential backoff, honouring Retry-After on 429.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2

from helmguard.kube.errors import (
    ApiError,
    Conflict,
    EscalationDenied,
    Invalid,
    KubeConfigError,
    KubeError,
    MissingDependency,
    NamespaceTerminating,
    PermissionDenied,
    PolicyViolation,
    QuotaExceeded,
    Target,
    Transient,
    Unauthorized,
    Unclassified,
)
from helmguard.kube.messages import cause_from_message
from helmguard.manifest import ObjectRef

T = TypeVar("T")

# --- the classifier --------------------------------------------------------------------

# The dependencies admission checks by name: a refusal naming one is a MissingDependency.
_ADMISSION_DEPENDENCIES = frozenset({"ServiceAccount", "PriorityClass", "RuntimeClass"})
_RBAC = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
    r' in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<ns>[^"]*)"| at the cluster scope)?'
)
_RBAC_PATH = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) path "(?P<path>[^"]*)"')
_ESCALATION = re.compile(
    r'user "(?P<user>[^"]*)" \(groups=.*?\) is attempting to grant RBAC permissions not '
    r"currently held:\s*(?P<missing>.*)",
    re.DOTALL,
)
_QUOTA = re.compile(r"(?:exceeded|failed) quota: (?P<quota>[^,:\s]+)")
_POD_SECURITY = re.compile(r'violates PodSecurity "(?P<level>[^"]+)"')
_WEBHOOK_DENIED = re.compile(r'admission webhook "(?P<name>[^"]+)" denied the request')
_VAP_DENIED = re.compile(
    r"ValidatingAdmissionPolicy '(?P<policy>[^']+)' with binding '(?P<binding>[^']+)' "
    r"denied request"
)
_LIMIT_RANGE = re.compile(
    r"(?:maximum|minimum) \S+ usage per (?:Container|Pod|PersistentVolumeClaim)"
    r"|\S+ max limit to request ratio per (?:Container|Pod)"
)
_WEBHOOK_CALL = re.compile(r'failed calling webhook "(?P<name>[^"]+)"')
_WEBHOOK_SERVICE = re.compile(r'service "(?P<name>[^"]+)" not found')
_WEBHOOK_HOST = re.compile(r"https://(?P<name>[^./:\s\"]+)\.(?P<ns>[^./:\s\"]+)\.svc")
# Server-side apply (structured-merge-diff) cannot build the typed object: a 500 that no
# retry changes. One problem, or "errors:" and one indented line per field.
_TYPED_PATCH = re.compile(r"failed to create typed patch object \([^)]*\): (?P<problems>.*)", re.S)
_FIELD_PROBLEM = re.compile(r"(?m)^\s*\.?(?P<field>(?:[^:\[\s]|\[[^\]]*\])+): (?P<problem>.+)$")
# The applied object cannot be converted to its Go type (500), or a POST/PUT body cannot
# be decoded (400).
_CONVERSION = re.compile(
    r"failed to convert new object \([^)]*\) to proper version: "
    r"(?:unable to convert unstructured object to [^:]*: )?(?P<problem>.*)",
    re.S,
)
_UNDECODABLE = re.compile(r"cannot be handled as an? \w+: (?P<problem>.*)", re.S)
_UNMARSHAL = re.compile(
    r"json: cannot unmarshal (?P<got>.+?) into Go (?:struct field \w+\.(?P<field>\S+)|value)"
    r" of type (?P<want>\S+)"
)
_GOT_VALUE = re.compile(r"got &value\.valueUnstructured\{Value:(?P<value>.*)\}$")
_GOT_MAP = re.compile(r"got &\{map\[.*\]\}$")
# A boolean or a number where a string is wanted: what `--set k=true` makes.
_GOT_SCALAR = re.compile(r"expected string, got (?:true|false|bool|number|-?[0-9][0-9.eE+-]*)$")
_SSA_MANAGER = re.compile(r'conflict with "(?P<manager>[^"]+)"')
_URL_PATH = re.compile(
    r"^/(?:api/[^/]+|apis/(?P<group>[^/]+)/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<resource>[^/]+))?(?:/(?P<name>[^/]+))?"
)

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.TransportError,
    ConnectionError,
    TimeoutError,
)


def classify(exc: BaseException) -> KubeError:
    """Turn any failure of a Kubernetes call into the one `KubeError` subclass that fits.

    A `KubeError` is returned unchanged. Unknown exceptions become `Unclassified` with
    the original text; callers should `raise classify(e) from e` to keep the chain.
    """
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiError):
        return _classify_status(exc.status, _target_of(exc), _retry_after_of(exc))
    if isinstance(exc, httpx2.HTTPStatusError):
        return _classify_http_status(exc)
    if isinstance(exc, _TRANSPORT_ERRORS):
        return _classify_transport(exc)
    return Unclassified(f"{type(exc).__name__}: {exc}")


def _target_of(exc: httpx2.HTTPStatusError | ApiError) -> Target:
    """What the request was about: Status details first, the URL path to fill the gaps."""
    details: Mapping[str, Any] = {}
    verb = url = ""
    if isinstance(exc, ApiError):
        details, verb, url = exc.details, exc.method, exc.url
    else:
        request = getattr(exc, "_request", None)
        if request is not None:
            verb, url = str(request.method), str(request.url)
    url_parts: dict[str, str] = {}
    match = _URL_PATH.match(urlsplit(url).path)
    if match:
        url_parts = {k: v for k, v in match.groupdict().items() if v}
    if details.get("kind") == "namespaces" and url_parts.get("resource") not in (
        None,
        "namespaces",
    ):
        details = {}  # the namespace is what is missing, not what the request was about
    return Target(
        resource=str(details.get("kind") or url_parts.get("resource", "")),
        group=str(details.get("group") or url_parts.get("group", "")),
        name=str(details.get("name") or url_parts.get("name", "")),
        namespace=url_parts.get("ns", ""),
        verb=verb,
    )


def _retry_after_of(exc: ApiError) -> float | None:
    """Seconds the server asked us to wait: Retry-After header, else details.retryAfterSeconds."""
    header = exc.retry_after.strip()
    if header.isdigit():
        return float(header)
    seconds = exc.details.get("retryAfterSeconds")
    return float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None


def _classify_status(
    status: dict[str, Any], target: Target, retry_after: float | None
) -> KubeError:
    """Decide the class from the Status message first, the code last."""
    raw = str(status.get("message") or "")
    code = int(status.get("code") or 0)
    reason = str(status.get("reason") or "")
    causes = (status.get("details") or {}).get("causes") or ()
    kw: dict[str, Any] = {"status": status, "code": code, "target": target}
    ns = target.namespace

    if "because it is being terminated" in raw or any(
        c.get("reason") == "NamespaceTerminating" for c in causes
    ):
        return NamespaceTerminating(
            f"Kubernetes refused to create {target}: the namespace is being deleted.",
            fix=f"Wait until namespace {ns!r} is gone (check finalizers that hold it), "
            "then deploy again, or deploy to another namespace.",
            **kw,
        )
    dep = cause_from_message(raw, ns, _ADMISSION_DEPENDENCIES)
    if dep is not None and dep.kind == "ServiceAccount":
        return MissingDependency(
            f"Kubernetes refused to create {target}: its ServiceAccount "
            f"{dep.namespace}/{dep.name} does not exist. Controllers keep retrying, so the "
            "workload stays without pods.",
            fix=f"Create ServiceAccount {dep.name!r} in namespace {dep.namespace!r} "
            "(or set spec.serviceAccountName to one that exists).",
            dependency=dep,
            **kw,
        )
    if dep is not None:  # PriorityClass or RuntimeClass
        spec_field = "priorityClassName" if dep.kind == "PriorityClass" else "runtimeClassName"
        return MissingDependency(
            f"Kubernetes refused to create {target}: {dep.kind} {dep.name!r} does not exist.",
            fix=f"Create {dep.kind} {dep.name!r} or fix spec.{spec_field}.",
            dependency=dep,
            **kw,
        )
    if m := _ESCALATION.search(raw):
        return EscalationDenied(
            f"Kubernetes refused {target}: {m['user']} may not grant permissions it does not "
            f"hold itself. Missing: {m['missing'].strip()}",
            fix="Deploy with an identity that holds these permissions, or grant it the "
            "`escalate` (for roles) / `bind` (for bindings) verb on the role.",
            user=m["user"],
            missing=m["missing"].strip(),
            **kw,
        )
    if m := _QUOTA.search(raw):
        over = "exceeded quota" in raw
        return QuotaExceeded(
            f"Kubernetes refused to create {target}: ResourceQuota {m['quota']!r} "
            + ("is used up." if over else "requires requests/limits the object does not set.")
            + f" ({raw})",
            fix=(
                f"Raise ResourceQuota {m['quota']!r} or free capacity in namespace {ns!r}."
                if over
                else "Set the resource requests/limits the quota names on every container."
            ),
            quota=m["quota"],
            **kw,
        )
    if m := _POD_SECURITY.search(raw):
        return PolicyViolation(
            f"Kubernetes refused {target}: it violates PodSecurity {m['level']!r} enforced on "
            f"namespace {ns!r}. ({raw})",
            fix="Change the pod's securityContext to meet the level, or relabel the namespace "
            "(pod-security.kubernetes.io/enforce) if that level is wrong.",
            policy=f"PodSecurity {m['level']}",
            **kw,
        )
    if m := _VAP_DENIED.search(raw):
        return PolicyViolation(
            f"Kubernetes refused {target}: ValidatingAdmissionPolicy {m['policy']!r} (binding "
            f"{m['binding']!r}) denied it. ({raw})",
            fix=f"Change the object to satisfy policy {m['policy']!r}, or ask its owner.",
            policy=f"ValidatingAdmissionPolicy {m['policy']}",
            **kw,
        )
    if m := _WEBHOOK_DENIED.search(raw):
        return PolicyViolation(
            f"Kubernetes refused {target}: admission webhook {m['name']!r} denied it. ({raw})",
            fix=f"Change the object to satisfy webhook {m['name']!r}, or ask its owner.",
            policy=f"webhook {m['name']}",
            **kw,
        )
    if _LIMIT_RANGE.search(raw):
        return PolicyViolation(
            f"Kubernetes refused {target}: a LimitRange in namespace {ns!r} does not allow its "
            f"resources. ({raw})",
            fix="Adjust the resource requests/limits to the namespace's LimitRange.",
            policy="LimitRange",
            **kw,
        )
    if m := _WEBHOOK_CALL.search(raw):
        if svc := _WEBHOOK_SERVICE.search(raw):
            host = _WEBHOOK_HOST.search(raw)
            svc_ns = host["ns"] if host and host["name"] == svc["name"] else ""
            where = f"{svc_ns}/{svc['name']}" if svc_ns else svc["name"]
            return MissingDependency(
                f"Kubernetes could not admit {target}: webhook {m['name']!r} points at "
                f"Service {where}, which does not exist.",
                fix="Deploy the webhook's Service (and its pods) first, or remove the "
                "webhook configuration.",
                dependency=ObjectRef("", "Service", svc_ns, svc["name"]),
                **kw,
            )
        return Transient(
            f"Kubernetes could not reach admission webhook {m['name']!r} for {target}. ({raw})",
            fix="Check that the webhook's pods are running and its Service has endpoints.",
            retry_after=retry_after,
            **kw,
        )
    if m := _RBAC.search(raw):
        where = f'in namespace "{m["ns"]}"' if m["ns"] else "at the cluster scope"
        group = m["group"] or "core"
        return PermissionDenied(
            f"{m['user']} may not {m['verb']} {m['resource']} (API group {group}) {where}.",
            fix=f'Grant {m["user"]} the verb "{m["verb"]}" on resource "{m["resource"]}" '
            f'(apiGroups: ["{m["group"]}"]) with a '
            + ("Role and RoleBinding in that namespace." if m["ns"] else "ClusterRoleBinding."),
            user=m["user"],
            verb=m["verb"],
            resource=m["resource"],
            group=m["group"],
            namespace=m["ns"] or "",
            **kw,
        )
    if m := _RBAC_PATH.search(raw):
        return PermissionDenied(
            f"{m['user']} may not {m['verb']} the path {m['path']}.",
            fix=f'Grant {m["user"]} "{m["verb"]}" on nonResourceURLs ["{m["path"]}"].',
            user=m["user"],
            verb=m["verb"],
            resource=m["path"],
            **kw,
        )
    if code == 401:
        return Unauthorized(
            "The API server rejected the credentials (401 Unauthorized): they are missing, "
            "wrong or expired.",
            fix="Log in again or refresh the token/certificate in the kubeconfig user.",
            **kw,
        )
    if code == 404:
        # The first is the API server's Status for an unknown resource; the second its
        # plain-text answer for a path under an API group it does not serve at all.
        if "the server could not find the requested resource" in raw or (
            raw.strip() == "404 page not found"
        ):
            return MissingDependency(
                f"The API server does not serve {target.resource or 'this resource'}"
                f"{'.' + target.group if target.group else ''}: its API (or CRD) is not installed.",
                fix="Install the CRD or enable the API group, or check the apiVersion.",
                **kw,
            )
        return _not_found(raw, target, kw)
    if code == 409:
        return _conflict(raw, reason, causes, kw)
    if code == 422 or reason == "Invalid":
        fields = "; ".join(
            f"{c.get('field') or '(object)'}: {c.get('message') or c.get('reason')}" for c in causes
        )
        return Invalid(
            f"Kubernetes rejected {target} as invalid: {fields or raw}",
            fix="Correct the listed fields in the chart's template or values.",
            **kw,
        )
    if (bad_body := _bad_body(raw, code, target, kw)) is not None:
        return bad_body
    if code == 429 or reason == "TooManyRequests":
        return Transient(
            f"The API server is throttling requests (429) for {target}.",
            fix="helmguard retries with backoff; if it persists, reduce concurrency.",
            retry_after=retry_after,
            **kw,
        )
    if code >= 500 or reason in ("ServerTimeout", "Timeout", "InternalError"):
        return Transient(
            f"The API server failed to handle the request for {target} ({code} {reason}): {raw}",
            fix="helmguard retries with backoff; if it persists, check the API server's health.",
            retry_after=retry_after,
            **kw,
        )
    return Unclassified(raw or f"{code} {reason}", **kw)


def _bad_body(raw: str, code: int, target: Target, kw: dict[str, Any]) -> Invalid | None:
    """A body the API server cannot read as its kind: server-side apply's typed patch or
    conversion (a 500), a create's or update's decoding (a 400). Never healed by a retry."""
    problems: list[tuple[str, str]] = []
    if code >= 500 and (m := _TYPED_PATCH.search(raw)):
        # Sorted by field: the API server lists them in Go map order, which varies.
        problems = sorted(
            (f["field"], _plain_problem(f["problem"]))
            for f in _FIELD_PROBLEM.finditer(m["problems"])
        ) or [("", m["problems"].strip())]
    elif (code >= 500 and (m := _CONVERSION.search(raw))) or (
        code == 400 and (m := _UNDECODABLE.search(raw))
    ):
        problems = [_unmarshal_problem(m["problem"].strip())]
    else:
        return None
    said = "; ".join(f"{field}: {problem}" if field else problem for field, problem in problems)
    return Invalid(
        f"Kubernetes cannot read {target} as its kind: {said}",
        fix=" ".join(dict.fromkeys(_body_fix(problem) for _, problem in problems)),
        fields=tuple(field for field, _ in problems if field),
        **kw,
    )


def _plain_problem(problem: str) -> str:
    """structured-merge-diff's wording without its Go value dump (`got true`, not
    `got &value.valueUnstructured{Value:true}`)."""
    problem = problem.strip()
    if m := _GOT_VALUE.search(problem):
        value = m["value"]
        got = "a list" if value.startswith("[]") else "a map" if value.startswith("map[") else value
        return f"{problem[: m.start()]}got {got}"
    return _GOT_MAP.sub("got a map", problem)


def _unmarshal_problem(problem: str) -> tuple[str, str]:
    """(field, problem) from a conversion or decoding error; the field when Go names it."""
    if m := _UNMARSHAL.search(problem):
        return m["field"] or "", f"expected {m['want']}, got {m['got']}"
    return "", problem


def _body_fix(problem: str) -> str:
    """How to correct a value of the wrong type, named for the way charts get one."""
    if _GOT_SCALAR.search(problem):
        return (
            "Quote the value so it is a string: --set-string key=value instead of --set, "
            '"true" rather than true in a values file, or {{ quote .Values.x }} in the template.'
        )
    if "expected numeric" in problem or re.search(r"expected u?int\d*, got string", problem):
        return (
            "Give a number, not a string: --set instead of --set-string, no quotes in the "
            "values file, or {{ int .Values.x }} in the template."
        )
    if re.search(r"expected (?:list|map|\[\]|map\[)|got (?:a list|a map|array|object)$", problem):
        return (
            "Give the field the type its kind wants (a string, a list or a map): check the values "
            "and the template's indentation (toYaml | nindent)."
        )
    if "field not declared in schema" in problem:
        return (
            "Remove the field or correct its name and indentation: the kind's schema has no "
            "such field (server-side apply refuses unknown fields)."
        )
    if "duplicate entries for key" in problem:
        return "Remove the duplicate list entry: the list is keyed and each key must be unique."
    if "may not have a null element" in problem:
        return "Remove the empty list entry (a bare `-`, or a value that rendered to nothing)."
    return "Correct the field's value in the chart's template or values: its type is wrong."


def _not_found(raw: str, target: Target, kw: dict[str, Any]) -> MissingDependency:
    """A 404 naming an object: the object itself, or the namespace a create needs."""
    details = kw["status"].get("details") or {}
    resource, name = str(details.get("kind") or ""), str(details.get("name") or "")
    if resource == "namespaces":
        return MissingDependency(
            f"Namespace {name!r} does not exist, so {target} cannot be created in it.",
            fix=f"Create namespace {name!r} first (or deploy with --create-namespace).",
            dependency=ObjectRef("", "Namespace", "", name),
            **kw,
        )
    return MissingDependency(
        f"{target} does not exist. ({raw})",
        fix="Create it first, or fix the name that refers to it.",
        **kw,
    )


def _conflict(raw: str, reason: str, causes: Any, kw: dict[str, Any]) -> Conflict:
    """409: an SSA field-manager conflict, an optimistic-lock race, or AlreadyExists."""
    target = kw["target"]
    if "the object has been modified" in raw:
        return Conflict(
            f"{target} changed while helmguard was updating it (optimistic lock).",
            fix="Read it again and retry; helmguard does this automatically.",
            retryable=True,
            **kw,
        )
    managers = tuple(
        dict.fromkeys(
            m["manager"] for c in causes if (m := _SSA_MANAGER.search(str(c.get("message") or "")))
        )
    )
    if managers or "Apply failed with" in raw:
        fields = ", ".join(str(c.get("field") or "") for c in causes)
        who = ", ".join(repr(m) for m in managers) or "another field manager"
        return Conflict(
            f"Server-side apply of {target} conflicts with {who}, which owns {fields or 'fields'}"
            " it would change.",
            fix="Stop the other writer from managing these fields, remove them from the chart, "
            "or re-apply with force (taking ownership).",
            managers=managers,
            **kw,
        )
    if reason == "AlreadyExists":
        return Conflict(
            f"{target} already exists.",
            fix="Adopt or delete the existing object, or rename the new one.",
            **kw,
        )
    return Conflict(f"{target}: {raw}", **kw)


def _classify_http_status(exc: httpx2.HTTPStatusError) -> KubeError:
    """A non-JSON HTTP error (a proxy, or a server not speaking the Kubernetes API)."""
    code = exc.response.status_code
    status = {"kind": "Status", "code": code, "message": exc.response.text[:2000]}
    retry_after: float | None = None
    header = exc.response.headers.get("Retry-After")
    if header and header.strip().isdigit():
        retry_after = float(header)
    return _classify_status(status, _target_of(exc), retry_after)


def _classify_transport(exc: BaseException) -> KubeError:
    """Connection and timeout failures: transient, except TLS trust which retrying won't fix."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc.__context__, ssl.SSLCertVerificationError) or (
        "CERTIFICATE_VERIFY_FAILED" in text
    ):
        return KubeConfigError(
            f"The API server's TLS certificate is not trusted: {text}",
            fix="Set certificate-authority(-data) for the cluster in the kubeconfig to the CA "
            "that signed the server's certificate.",
        )
    url = ""
    request = getattr(exc, "_request", None)
    if request is not None:
        url = f" {request.url.scheme}://{request.url.netloc.decode()}"
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        what = f"The API server{url} did not answer in time"
    else:
        what = f"Cannot connect to the API server{url}"
    return Transient(
        f"{what} ({type(exc).__name__}: {text}).",
        fix="Check that the cluster is running and reachable from here (server address in "
        "the kubeconfig, VPN, firewall).",
    )


# --- retry -----------------------------------------------------------------------------


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    timeout: float,  # noqa: ASYNC109 - an overall deadline across attempts, not one call
    base: float = 0.2,
    cap: float = 5.0,
) -> T:
    """Run `fn` until it succeeds, retrying retryable errors until `timeout` seconds pass.

    Waits full-jitter exponential backoff (base * 2**attempt, capped), or the server's
    Retry-After on 429. Raises the classified `KubeError` (non-retryable at once, the last
    retryable one when time runs out, with a note saying how many attempts were made).
    """
    deadline = time.monotonic() + timeout
    attempt = 0
    last: tuple[KubeError, Exception] | None = None
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.001)) as window:
                return await fn()
        except Exception as exc:
            if last is not None and isinstance(exc, TimeoutError) and window.expired():
                # Cut short by our own deadline: the previous failure says more.
                err, exc = last
                err.add_note(f"gave up after {attempt - 1} attempts over {timeout:g}s")
                raise err from exc
            err = classify(exc)
            remaining = deadline - time.monotonic()
            if not err.retryable or remaining <= 0:
                if err.retryable:
                    err.add_note(f"gave up after {attempt} attempts over {timeout:g}s")
                raise err from exc
            last = (err, exc)
            if err.retry_after is not None and err.retry_after >= remaining:
                # The server said when to come back, and that is past the deadline.
                err.add_note(f"gave up after {attempt} attempts over {timeout:g}s")
                raise err from exc
            backoff = random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
            # A backoff longer than the time left still leaves room for a last attempt.
            wait = err.retry_after if err.retry_after is not None else min(backoff, remaining * 0.9)
            await asyncio.sleep(wait)
