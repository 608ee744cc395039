"""Which `serve` replica syncs a cluster: leader election on a coordination.k8s.io/v1 Lease.

The semantics and defaults of client-go's tools/leaderelection with its Lease lock:

- a candidate tries to acquire every `retry_period` (jittered by up to `JITTER_FACTOR`);
  a Lease held by someone else is free only once its record has not changed for
  `lease_duration` as measured on the candidate's own clock (`observed_at`: clock skew
  between replicas does not matter), or when its holderIdentity is empty (released);
- the leader renews every `retry_period`; when no renewal succeeded within
  `renew_deadline` it stops leading (its work is cancelled) before anyone else may take
  over (`renew_deadline < lease_duration`);
- every write is an update carrying the resourceVersion that was read (optimistic
  concurrency): of two candidates racing, the API server lets one win;
- on a clean shutdown the leader releases: holderIdentity emptied, leaseDurationSeconds 1,
  once its work has stopped (client-go's ReleaseOnCancel).

Beyond client-go, with the same timings and the same rule: a candidate also watches the
Lease, so it sees each renewal (and a release) when it is written rather than at its
next attempt, and it makes an attempt at the moment the record it saw expires (or is
released) instead of waiting for its next jittered retry. It still takes over only a
record unchanged for `lease_duration` on its own clock, now counted from when the record
was written (give or take the watch's delay) instead of up to two retry periods later:
a SIGKILLed leader is replaced ~lease_duration after its last renewal (13-15 s with
client-go's defaults) instead of up to lease_duration + 2 x 2.2 x retry_period.

`LeaderElector.run(lead)` campaigns, runs `lead()` while leading, and returns when
leadership is lost; `next_record` is the decision alone, a pure function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.kube.discovery import APIResource
from helmguard.kube.informer import DELETED, Informer
from helmguard.status.fields import micro_time, parse_time

log = logging.getLogger(__name__)

# client-go's defaults (as kube-controller-manager and kube-scheduler use them).
LEASE_DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY_PERIOD = 2.0
JITTER_FACTOR = 1.2
LEASE_NAME = "helmguard-sync"
LEASES = APIResource(
    "coordination.k8s.io", "v1", "Lease", "leases", True, frozenset({"get", "list", "watch"})
)


class ElectionConfigError(ValueError):
    """Timings client-go would refuse (the message names the rule broken)."""


@dataclass(frozen=True)
class ElectionTimings:
    """Seconds: how long a Lease lasts, the leader's renew deadline, the retry period."""

    lease_duration: float = LEASE_DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry_period: float = RETRY_PERIOD

    def __post_init__(self) -> None:
        if min(self.lease_duration, self.renew_deadline, self.retry_period) <= 0:
            raise ElectionConfigError("lease duration, renew deadline and retry period must be > 0")
        if self.lease_duration <= self.renew_deadline:
            raise ElectionConfigError(
                f"the lease duration ({self.lease_duration:g}s) must be greater than the "
                f"renew deadline ({self.renew_deadline:g}s)"
            )
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ElectionConfigError(
                f"the renew deadline ({self.renew_deadline:g}s) must be greater than "
                f"{JITTER_FACTOR:g} x the retry period ({self.retry_period:g}s)"
            )


@dataclass(frozen=True)
class LeaderRecord:
    """A Lease's spec, as leader election reads and writes it."""

    holder: str
    lease_duration: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Mapping[str, Any]) -> LeaderRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            lease_duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder or None,
            "leaseDurationSeconds": self.lease_duration,
            "acquireTime": micro_time(self.acquire_time) if self.acquire_time else None,
            "renewTime": micro_time(self.renew_time) if self.renew_time else None,
            "leaseTransitions": self.transitions,
        }


def next_record(
    identity: str,
    observed: LeaderRecord | None,
    observed_at: float,
    now: float,
    wall: datetime,
    lease_duration: float,
) -> LeaderRecord | None:
    """The record `identity` writes to acquire or renew, or None while another holds it.

    `observed` is the Lease's record as read now (None: no Lease), `observed_at` the
    monotonic time it was first seen as it is; a record unchanged for `lease_duration`
    has expired. Renewing keeps acquireTime and the transition count; taking over counts
    one more transition.
    """
    duration = int(lease_duration)
    if observed is None:
        return LeaderRecord(identity, duration, wall, wall, 0)
    if observed.holder == identity:
        return replace(observed, lease_duration=duration, renew_time=wall)
    if observed.holder and observed_at + lease_duration > now:
        return None
    return LeaderRecord(identity, duration, wall, wall, observed.transitions + 1)


class LeaderElector:
    """Campaigns for one Lease and runs work while holding it (see the module docstring)."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        *,
        timings: ElectionTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings or ElectionTimings()
        self._clock = clock
        self._on_new_leader = on_new_leader
        self._observed: LeaderRecord | None = None
        self._observed_at = 0.0
        self._reported = ""
        self._changed = asyncio.Event()  # the observed record changed (a read or the watch)
        self.last_error = ""
        # Whether the API server answered the last attempt (an error status is an answer).
        self.answered = True

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    @property
    def leader(self) -> str:
        """The holder last observed ("" if none or not read yet)."""
        return self._observed.holder if self._observed is not None else ""

    @property
    def is_leader(self) -> bool:
        return self.leader == self.identity

    def describe(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: read the Lease, decide, write it with the resourceVersion read."""
        try:
            done = await self._try()
        except Exception as exc:  # every failure is one failed attempt, as in client-go
            error = classify(exc)
            self.last_error, self.answered = error.message, bool(error.code)
            log.info("%s: %s", self.describe(), self.last_error)
            return False
        else:
            self.answered = True
            return done
        finally:
            self._report()

    async def _try(self) -> bool:
        lease = await self._get()
        now, wall = self._clock(), datetime.now(UTC)
        observed = self._observe(lease, now)
        record = next_record(
            self.identity,
            observed,
            self._observed_at,
            now,
            wall,
            self.timings.lease_duration,
        )
        if record is None:
            return False
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": record.spec(),
            }
            await self.kube.send_json("POST", self.path, body)
        else:
            await self._update(lease, record)
        self._observed, self._observed_at = record, self._clock()
        return True

    def _observe(self, lease: Mapping[str, Any] | None, now: float) -> LeaderRecord | None:
        """The record `lease` holds; a new one is observed from `now` (None: no Lease)."""
        if lease is None:
            return None
        observed = LeaderRecord.from_lease(lease)
        if observed != self._observed:
            self._observed, self._observed_at = observed, now
            self._changed.set()
        return observed

    async def _seen(self, event: str, lease: dict[str, Any]) -> None:
        """The watch's notification of the Lease: observed when written."""
        if event != DELETED:
            self._observe(lease, self._clock())
            self._report()

    def _free_at(self) -> float | None:
        """When (our clock) the record observed lets us take over; None: ours, or not read."""
        observed = self._observed
        if observed is None or observed.holder == self.identity:
            return None
        if not observed.holder:
            return self._observed_at  # released
        return self._observed_at + self.timings.lease_duration

    async def _get(self) -> dict[str, Any] | None:
        try:
            lease = await self.kube.get_json(f"{self.path}/{self.name}")
        except Exception as exc:
            if classify(exc).code == 404:
                return None
            raise
        return dict(lease)

    async def _update(self, lease: dict[str, Any], record: LeaderRecord) -> Any:
        # The resourceVersion read travels with the body: a concurrent write makes this 409.
        body = {**lease, "spec": record.spec()}
        return await self.kube.send_json("PUT", f"{self.path}/{self.name}", body)

    def _report(self) -> None:
        if self.leader != self._reported:
            self._reported = self.leader
            if self._on_new_leader is not None:
                self._on_new_leader(self._reported)

    async def acquire(self) -> None:
        """Return once this candidate holds the Lease: tries every jittered retry period, and
        when the record seen (read, or watched meanwhile) expires or is released."""
        watch = Informer(
            self.kube,
            LEASES,
            self._seen,
            namespace=self.namespace,
            field_selector=f"metadata.name={self.name}",
        )
        watch.start()
        try:
            while True:
                tried = self._clock()
                if await self.try_acquire_or_renew():
                    return
                period = self.timings.retry_period
                jittered = period + random.uniform(0, JITTER_FACTOR * period)
                await self._until_due(tried, self._clock() + jittered)
        finally:
            await watch.stop()

    async def _until_due(self, tried: float, deadline: float) -> None:
        """Sleep until `deadline`, or until the record observed by then is free to take
        (and was not yet when the last attempt, at `tried`, was made)."""
        while (now := self._clock()) < deadline:
            free_at = self._free_at()
            if free_at is not None and tried < free_at <= now:
                return
            self._changed.clear()
            wake = free_at if free_at is not None and now < free_at < deadline else deadline
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wake - now):
                    await self._changed.wait()

    async def renew(self) -> None:
        """Renew every retry period; return when no renewal succeeded within the renew deadline."""
        period, deadline = self.timings.retry_period, self.timings.renew_deadline
        while True:
            until = self._clock() + deadline
            while True:
                remaining = until - self._clock()
                if remaining <= 0:
                    log.warning(
                        "%s: leadership lost, not renewed within %gs: %s",
                        self.describe(),
                        deadline,
                        self.last_error,
                    )
                    return
                try:
                    async with asyncio.timeout(remaining):
                        renewed = await self.try_acquire_or_renew()
                except TimeoutError:
                    renewed = False
                    self.last_error = f"no answer within the renew deadline ({deadline:g}s)"
                if renewed:
                    break
                await asyncio.sleep(min(period, max(until - self._clock(), 0.0)))
            await asyncio.sleep(period)

    async def release(self) -> None:
        """Give the Lease up if held: empty holder, 1 s duration (others may take it at once)."""
        if not self.is_leader or self._observed is None:
            return
        released = LeaderRecord("", 1, None, None, self._observed.transitions)
        try:
            lease = await self._get()
            if lease is None or LeaderRecord.from_lease(lease).holder != self.identity:
                return
            await self._update(lease, released)
        except Exception as exc:  # not fatal: the Lease expires by itself
            log.warning("%s: releasing failed: %s", self.describe(), classify(exc).message)
            return
        self._observed, self._observed_at = released, self._clock()
        self._report()

    async def run(self, lead: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Acquire, run `lead()` while renewing; return when leadership is lost or `lead` ends.

        `lead` is cancelled (and awaited) when leadership is lost; on cancellation of `run`
        itself it is cancelled too, and the Lease released once it has stopped.
        """
        await self.acquire()
        work: asyncio.Task[object] = asyncio.create_task(lead(), name=f"leading {self.describe()}")
        renewing = asyncio.create_task(self.renew(), name=f"renewing {self.describe()}")
        try:
            await asyncio.wait({work, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                work.result()  # its failure is the caller's
        finally:
            renewing.cancel()
            work.cancel()
            # The work stops before the Lease is given up: never two leaders at work.
            await asyncio.gather(renewing, work, return_exceptions=True)
            await self.release()
