"""An in-memory stand-in for helmguard's own cluster interface (`deploy.cluster.Cluster`).

Not a fake API server: it implements the Cluster methods the actions call (get, existing, apply,
create, replace, delete, list by label selector) over a dict of objects, starting from
objects recorded on the sandbox (fixtures/deciders.json, by record_deciders.py). Every
write is logged in `calls`, in order, so a test can see what an action did and when.
Failures are the server's own recorded Status bodies, classified by `kube.errors` exactly
as a real response is.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helmguard.deploy.config import Configuration
from helmguard.deploy.release import decode_record
from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.kube.errors import ApiError, KubeError
from helmguard.manifest import K8sObject, ObjectRef

FIXTURE = Path(__file__).parent / "fixtures" / "deciders.json"


def recorded() -> dict[str, Any]:
    """The recording: its namespace, release, states, a held Lease and an Invalid Status."""
    return dict(json.loads(FIXTURE.read_text()))


def server_error(status: Mapping[str, Any], method: str, path: str) -> KubeError:
    """The KubeError helmguard raises when the API server answers `status`."""
    refused = ApiError(
        status, http_status=int(status["code"]), method=method, url=f"https://sandbox{path}"
    )
    return classify(refused)


@dataclass(frozen=True)
class Call:
    """One write the action made: verb, object, and the body sent (None for delete)."""

    verb: str
    ref: ObjectRef
    body: dict[str, Any] | None = None

    @property
    def record_status(self) -> str:
        """Helm's status in a release record written by this call."""
        assert self.body is not None
        return decode_record(self.body).status


@dataclass
class FakeCluster:
    """Objects keyed by ObjectRef; the methods and attributes of deploy.cluster.Cluster."""

    objects: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    deadline: float = 0.0
    calls: list[Call] = field(default_factory=list)
    # Applying one of these refs fails with the recorded Status given.
    refuse: dict[ObjectRef, Mapping[str, Any]] = field(default_factory=dict)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    @classmethod
    def of(cls, bodies: Iterable[Mapping[str, Any]]) -> FakeCluster:
        fake = cls()
        for body in bodies:
            fake.objects[K8sObject(dict(body)).ref] = copy.deepcopy(dict(body))
        return fake

    def config(self, **kw: Any) -> Configuration:
        """A Configuration whose actions work through this cluster, never connecting."""

        async def no_connection(_seconds: float) -> Kube:
            raise AssertionError("the action connected to a cluster")

        async def this(_connect: Callable[[], Awaitable[Kube]], deadline: float) -> FakeCluster:
            self.deadline = deadline
            return self

        return Configuration(no_connection, cluster=this, **kw)

    # ---- what the actions call -------------------------------------------------------

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    async def refresh_discovery(self) -> None:
        return None

    async def get(self, ref: ObjectRef, api_version: str = "") -> dict[str, Any] | None:
        live = self.objects.get(ref)
        return copy.deepcopy(live) if live is not None else None

    async def apply(
        self, body: Mapping[str, Any], *, force: bool, dry_run: bool = False
    ) -> dict[str, Any]:
        ref = K8sObject(dict(body)).ref
        if ref in self.refuse:
            raise server_error(self.refuse[ref], "PATCH", _path(ref))
        live = self.objects.get(ref)
        stored = self._stored(body, live)
        if not dry_run:
            self.calls.append(Call("apply", ref, copy.deepcopy(dict(body))))
            self.objects[ref] = stored
        return copy.deepcopy(stored)

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ref = K8sObject(dict(body)).ref
        if ref in self.objects:
            raise server_error(_status(409, "AlreadyExists", ref), "POST", _path(ref))
        self.calls.append(Call("create", ref, copy.deepcopy(dict(body))))
        self.objects[ref] = self._stored(body, None)
        return copy.deepcopy(self.objects[ref])

    async def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ref = K8sObject(dict(body)).ref
        live = self.objects.get(ref)
        if live is None:
            raise server_error(_status(404, "NotFound", ref), "PUT", _path(ref))
        sent = (body.get("metadata") or {}).get("resourceVersion")
        if sent and sent != live["metadata"]["resourceVersion"]:
            raise server_error(_status(409, "Conflict", ref), "PUT", _path(ref))
        self.calls.append(Call("replace", ref, copy.deepcopy(dict(body))))
        self.objects[ref] = self._stored(body, live)
        return copy.deepcopy(self.objects[ref])

    async def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        if self.objects.pop(ref, None) is None:
            return False
        self.calls.append(Call("delete", ref))
        return True

    async def list(
        self, group: str, kind: str, namespace: str = "", *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        found = []
        for ref, body in self.objects.items():
            labels = body["metadata"].get("labels") or {}
            if (ref.group, ref.kind) != (group, kind) or namespace not in ("", ref.namespace):
                continue
            if all(labels.get(k) == v for k, v in wanted.items()):
                found.append(copy.deepcopy(body))
        return found

    async def existing(self, objects: Sequence[K8sObject]) -> dict[ObjectRef, Any]:
        return {o.ref: copy.deepcopy(self.objects[o.ref]) for o in objects if o.ref in self.objects}

    # ---- for the tests -----------------------------------------------------------------

    def writes(self, verb: str = "", kind: str = "") -> list[Call]:
        return [c for c in self.calls if verb in ("", c.verb) and kind in ("", c.ref.kind)]

    def _stored(self, body: Mapping[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any]:
        """`body` as the server keeps it: uid kept from `live`, a new resourceVersion."""
        stored = copy.deepcopy(dict(body))
        meta = stored.setdefault("metadata", {})
        meta["uid"] = live["metadata"]["uid"] if live is not None else str(uuid.uuid4())
        meta["resourceVersion"] = str(next(self._versions))
        return stored


def _path(ref: ObjectRef) -> str:
    where = f"/namespaces/{ref.namespace}" if ref.namespace else ""
    return f"/api/v1{where}/{ref.kind.lower()}s/{ref.name}"


def _status(code: int, reason: str, ref: ObjectRef) -> dict[str, Any]:
    """The Status the API server answers for `reason` on `ref`, in its standard wording."""
    messages = {
        "AlreadyExists": f'{ref.kind.lower()}s "{ref.name}" already exists',
        "NotFound": f'{ref.kind.lower()}s "{ref.name}" not found',
        "Conflict": f'Operation cannot be fulfilled on {ref.kind.lower()}s "{ref.name}": '
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    }
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": messages[reason],
        "reason": reason,
        "details": {"name": ref.name, "kind": ref.kind.lower() + "s"},
        "code": code,
    }
