"""Executing a Plan: gates, concurrent server-side apply, hooks, wait, prune, delete.

One file past 400 lines: gates, apply, hooks, wait, prune and delete share the Engine's
record of what the API server confirmed.

An `Engine` is one operation on one release over one connection. It records what the
API server confirmed (`applied`), never what it merely asked for, and stops at the first
wave that cannot succeed: a non-retryable error, or a gate that does not open in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.observe import (
    Verdict,
    established,
    hook_runs,
    hook_verdict,
    observe_release,
    pods_created,
    unawaited,
    unconfirmed,
    verdict,
)
from helmguard.deploy.oplog import OperationLog, Step
from helmguard.deploy.release import (
    Applied,
    HookRun,
    check_ownership,
    owner_of,
    release_id,
    stamp,
)
from helmguard.deploy.watch import ReleaseWatch
from helmguard.graph.order import HookStep, Plan, Wave, parse_wait_for, uninstall_order
from helmguard.kube.classifier import classify
from helmguard.kube.errors import KubeError
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import ResourceStatus, State
from helmguard.sync.look import Snapshot

# How often waits look again: a few small lists per look, cheap for the API server.
POLL_SECONDS = 0.25
# A gate's first looks come sooner: a CRD is Established, an object deleted, a few tens
# of ms after it was applied; the pause doubles from this up to POLL_SECONDS.
_FIRST_LOOK = 0.03
# Waiting for Ready on a collection that cannot be watched lists it again sooner while a
# list is cheap, and no more often than to keep the API server busy a third of the time.
_WAIT_POLL = (0.1, 1.0)
# Without a change, the wait judges its watched objects again this often (time-based rules).
_IDLE_LOOK = 1.0
# How long a failing verdict waits for the controller's own words (see `_confirming`).
_CONFIRM_SECONDS = 5.0


def _timed_out(what: str, outcome: Verdict) -> Verdict:
    """The deadline passed while `outcome` (not done) was the last thing seen."""
    return Verdict(
        True,
        False,
        outcome.state,
        f"timed out waiting for {what}: {outcome.message}",
        outcome.culprit,
        outcome.culprit.ref if outcome.culprit else None,
    )


def _pause(look: float) -> float:
    return min(_WAIT_POLL[1], max(_WAIT_POLL[0], 2 * look))


class DeployFailed(Exception):
    """The operation stopped; `error` is the classified cause when an API call failed."""

    def __init__(
        self, message: str, *, error: KubeError | None = None, verdict: Verdict | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.verdict = verdict


@dataclass
class Engine:
    cluster: Cluster
    log: OperationLog
    namespace: str
    name: str
    revision: int
    force_conflicts: bool = False
    adopt: bool = False
    concurrency: int = 16
    wait_for_load_balancers: bool = False
    applied: dict[ObjectRef, Applied] = field(default_factory=dict)
    # What this operation applied whose answer showed it usable by later waves: the gate
    # need not read it again (a CRD is read: Established comes after the answer).
    usable: set[ObjectRef] = field(default_factory=set)
    # When each hook this operation ran last ran, and how (helm's Hook.LastRun), by ref.
    hook_runs: dict[ObjectRef, HookRun] = field(default_factory=dict)

    # ---- apply ---------------------------------------------------------------------------

    async def apply_object(
        self, obj: K8sObject, *, create_only: bool = False, known: bool = False, live: Any = None
    ) -> Applied | None:
        """Apply one object after checking who owns it; the server's answer is the record.

        `known` says `live` is already the object as listed (None: absent); else it is read.
        """
        if not known:
            live = await self.cluster.get(obj.ref, obj.api_version)
        if live is not None:
            if create_only:
                self.log.emit(
                    Step.OBJECT_SKIPPED,
                    f"{obj.ref} exists; CRDs from crds/ are never upgraded",
                    ref=str(obj.ref),
                )
                return None
            check_ownership(obj.ref, live, self.namespace, self.name, adopt=self.adopt)
        body = stamp(obj, self.namespace, self.name, self.revision, helm_label=not create_only)
        returned = await self.cluster.apply(body, force=self.force_conflicts)
        meta = returned.get("metadata") or {}
        applied = Applied(
            obj.ref,
            obj.api_version,
            str(meta.get("uid") or ""),
            str(meta.get("resourceVersion") or ""),
            live is None,
        )
        self.applied[obj.ref] = applied
        if obj.kind != "CustomResourceDefinition" and established(K8sObject(returned))[0]:
            self.usable.add(obj.ref)
        self.log.emit(
            Step.OBJECT_APPLIED,
            f"{'created' if applied.created else 'configured'} {obj.ref} "
            f"(resourceVersion {applied.resource_version})",
            ref=str(obj.ref),
            uid=applied.uid,
            resourceVersion=applied.resource_version,
            created=applied.created,
        )
        return applied

    async def _apply_all(
        self, objects: Sequence[K8sObject], create_only: frozenset[ObjectRef]
    ) -> None:
        pool = asyncio.Semaphore(self.concurrency)
        existing = await self.cluster.existing(objects)
        errors: list[tuple[ObjectRef, KubeError]] = []

        async def one(obj: K8sObject) -> None:
            async with pool:
                try:
                    await self.apply_object(
                        obj,
                        create_only=obj.ref in create_only,
                        known=True,
                        live=existing.get(obj.ref),
                    )
                except Exception as exc:
                    err = classify(exc)
                    errors.append((obj.ref, err))
                    self.log.emit(
                        Step.OBJECT_FAILED,
                        f"{obj.ref}: {type(err).__name__}: {err.message}",
                        level="error",
                        ref=str(obj.ref),
                        errorClass=type(err).__name__,
                        retryable=err.retryable,
                        apiMessage=err.api_message,
                        fix=err.fix,
                    )

        await asyncio.gather(*(one(o) for o in objects))
        if errors:
            ref, err = sorted(errors, key=lambda e: str(e[0]))[0]
            raise DeployFailed(f"{ref}: {type(err).__name__}: {err.explain()}", error=err)

    async def gate(self, wave: Wave, objects: dict[ObjectRef, K8sObject]) -> None:
        """Wait until everything `wave` depends on is established (or its wait-for Ready)."""
        befores = sorted({e.before for e in wave.needs})
        wait_for = {
            target
            for obj in wave.objects
            if obj.annotations.get("helmguard.io/wait-for")
            for target in parse_wait_for(
                obj, str(obj.annotations["helmguard.io/wait-for"]), objects
            )
        }
        if not befores:
            return
        crd_seen = False
        storage_ready: set[ObjectRef] = set()
        pause = _FIRST_LOOK
        while True:
            pending: list[str] = []
            # One list per (kind, namespace) instead of a GET per dependency; none for what
            # the API server's answer to this operation's apply showed usable.
            unread = [b for b in befores if b not in self.usable]
            listed = await self.cluster.existing([objects[b] for b in unread if b in objects])
            lives = [listed.get(b) if b in objects else await self.cluster.get(b) for b in unread]
            for ref, live in zip(unread, lives, strict=True):
                obj = None if live is None else K8sObject(live)
                ok, why = established(obj)
                if ok and ref.kind == "CustomResourceDefinition" and not crd_seen:
                    await self.cluster.refresh_discovery()
                    crd_seen = True
                crd = obj is not None and obj.kind == "CustomResourceDefinition"
                if ok and obj is not None and crd and ref not in storage_ready:
                    names = obj.spec.get("names") or {}
                    group = str(obj.spec.get("group") or "")
                    await self.cluster.wait_storage(group, str(names.get("kind") or ""))
                    storage_ready.add(ref)
                if not ok:
                    pending.append(f"{ref} {why}")
            if wait_for and not pending:
                snap = await observe_release(self.cluster, sorted(wait_for))
                for status in snap.statuses.values():
                    if status.state in (State.BLOCKED, State.FAILED):
                        raise DeployFailed(
                            f"wave {wave.index} waits for {status.ref} (helmguard.io/wait-for), "
                            "which is "
                            f"{status.state}: {status.reason}: {status.message}"
                        )
                    if status.state is not State.READY:
                        pending.append(f"{status.ref} is {status.state}: {status.message}")
            if not pending:
                self.log.emit(
                    Step.GATE_PASSED,
                    f"wave {wave.index}: {len(befores)} dependencies established",
                    wave=wave.index,
                    dependencies=[str(b) for b in befores],
                )
                return
            if self.cluster.remaining() <= POLL_SECONDS:
                raise DeployFailed(
                    f"wave {wave.index} cannot start: " + "; ".join(pending) + " (timed out)"
                )
            await asyncio.sleep(pause)
            pause = min(2 * pause, POLL_SECONDS)

    async def run_waves(self, plan: Plan) -> None:
        """Gate and apply each wave in turn; raise DeployFailed at the first that fails."""
        objects = {o.ref: o for o in plan.objects}
        for wave in plan.waves:
            await self.gate(wave, objects)
            start = time.monotonic()
            await self._apply_all(wave.objects, plan.chart_crds)
            self.log.emit(
                Step.WAVE_APPLIED,
                f"wave {wave.index}: applied {len(wave.objects)} object(s) in "
                f"{time.monotonic() - start:.2f}s",
                wave=wave.index,
                objects=[str(r) for r in wave.refs],
            )

    # ---- hooks ---------------------------------------------------------------------------

    async def run_hooks(self, steps: Sequence[HookStep], event: str) -> None:
        """Run one event's hooks as Helm's execHook does, one at a time in `steps`' order.

        Each hook: delete it first if its policy is before-hook-creation (the default), apply
        it, wait until it has run (Jobs complete, Pods succeed, anything else exists). Delete
        policies for the outcome apply after the whole event, never in between: when every
        hook succeeded, the hook-succeeded ones are deleted in reverse order; when one fails,
        it is deleted if hook-failed, then the earlier ones if hook-succeeded, and the event
        fails. CRD hooks are never deleted (Helm: cascading garbage collection).
        """
        ran: list[HookStep] = []
        for step in steps:
            await self._delete_hook(step, "before-hook-creation", event)
            outcome = await self._run_hook(step, event)
            if not outcome.ready:
                await self._delete_hook(step, "hook-failed", event)
                for earlier in ran:
                    await self._delete_hook(earlier, "hook-succeeded", event)
                raise DeployFailed(
                    f"{event} hook {step.obj.ref} failed: {outcome.message}", verdict=outcome
                )
            ran.append(step)
        for step in reversed(ran):
            await self._delete_hook(step, "hook-succeeded", event)

    async def _run_hook(self, step: HookStep, event: str) -> Verdict:
        """Apply one hook and wait until it has run; what it did goes to the log."""
        ref = step.obj.ref
        started = time.monotonic()
        self.hook_runs[ref] = run = HookRun(datetime.now(UTC))
        try:
            returned = await self.cluster.apply(
                stamp(step.obj, self.namespace, self.name, self.revision, helm_label=False),
                force=True,
            )
        except Exception as exc:
            self.hook_runs[ref] = run.ended(False)
            err = classify(exc)
            self.log.emit(
                Step.HOOK_FAILED,
                f"{event} hook {ref}: {type(err).__name__}: {err.message}",
                level="error",
                ref=str(ref),
                event=event,
                errorClass=type(err).__name__,
                apiMessage=err.api_message,
            )
            raise DeployFailed(
                f"{event} hook {ref} failed: {type(err).__name__}: {err.explain()}", error=err
            ) from None
        meta = returned.get("metadata") or {}
        self.log.emit(
            Step.HOOK_APPLIED,
            f"{event} hook {ref} (weight {step.weight}, delete policy "
            f"{', '.join(step.policies)}) applied, resourceVersion {meta.get('resourceVersion')}",
            ref=str(ref),
            event=event,
            weight=step.weight,
            deletePolicies=list(step.policies),
            uid=str(meta.get("uid") or ""),
            resourceVersion=str(meta.get("resourceVersion") or ""),
        )
        if hook_runs(ref):
            outcome = await self.wait_ready(
                [ref],
                what=f"{event} hook {ref}",
                judge=lambda statuses, snapshot: hook_verdict(statuses[0], snapshot),
            )
        else:
            outcome = Verdict(True, True, State.READY, "exists (Helm waits only for Jobs and Pods)")
        seconds = round(time.monotonic() - started, 3)
        self.hook_runs[ref] = run.ended(outcome.ready)
        if outcome.ready:
            self.log.emit(
                Step.HOOK_SUCCEEDED,
                f"{event} hook {ref} succeeded in {seconds:.2f}s: {outcome.message}",
                ref=str(ref),
                event=event,
                seconds=seconds,
                outcome=outcome.message,
            )
        else:
            self.log.emit(
                Step.HOOK_FAILED,
                f"{event} hook {ref} failed after {seconds:.2f}s: {outcome.message}",
                level="error",
                ref=str(ref),
                event=event,
                seconds=seconds,
                outcome=outcome.message,
                rootCause=str(outcome.root_cause) if outcome.root_cause else None,
            )
        return outcome

    async def _delete_hook(self, step: HookStep, policy: str, event: str) -> None:
        """Delete a hook and wait until it is gone, if `policy` is one of its policies."""
        ref = step.obj.ref
        if policy not in step.policies or ref.kind == "CustomResourceDefinition":
            return
        if await self.cluster.delete(ref):
            await self._wait_gone([ref])
            self.log.emit(
                Step.HOOK_DELETED,
                f"{event} hook {ref} deleted ({policy})",
                ref=str(ref),
                event=event,
                policy=policy,
            )

    # ---- wait ----------------------------------------------------------------------------

    async def wait_ready(
        self,
        refs: Sequence[ObjectRef],
        *,
        what: str = "release",
        judge: Callable[[Sequence[ResourceStatus], Snapshot], Verdict] | None = None,
        watch: ReleaseWatch | None = None,
    ) -> Verdict:
        """Follow statuses until `judge` says done (by default `verdict`: all Ready, or one
        Blocked or Failed), or the deadline passes.

        `watch`: the caller's, already started over `refs` (and stopped by the caller).

        The release is listed once and then watched (`ReleaseWatch`): each change the API
        server sends is judged at once (changes arriving while one is judged, and for twice
        as long after, together). Without a change it is judged again every `_IDLE_LOOK`
        seconds (some rules depend on time: a pod unschedulable for a while); a collection
        that cannot be watched is listed at every look, as often as polling.
        """
        last: dict[ObjectRef, tuple[State, str]] = {}
        outcome: Verdict | None = None
        # When each trouble not yet in its controller's words was first seen.
        unconfirmed_since: dict[ObjectRef, float] = {}
        async with contextlib.AsyncExitStack() as stack:
            if watch is None:
                watch = await stack.enter_async_context(ReleaseWatch(self.cluster, refs))
            else:
                await watch.listed()
            while True:
                look = time.monotonic()
                try:
                    snapshot = await watch.snapshot()
                except KubeError:
                    if outcome is None or time.monotonic() < self.cluster.deadline:
                        raise
                    # The deadline fell during a look: a timeout, not an unreachable server.
                    return _timed_out(what, outcome)
                look = time.monotonic() - look
                statuses = [snapshot.statuses[r] for r in refs]
                self._report_transitions(statuses, last)
                outcome = (
                    judge(statuses, snapshot)
                    if judge is not None
                    else verdict(
                        statuses, snapshot, wait_for_load_balancers=self.wait_for_load_balancers
                    )
                )
                left = self.cluster.deadline - time.monotonic()
                if outcome.done and not await self._confirming(
                    outcome, snapshot, unconfirmed_since
                ):
                    if outcome.ready:
                        self._report_unawaited(statuses)
                    return outcome
                if left <= 0:
                    return _timed_out(what, outcome)
                if watch.polling:
                    await watch.changed(min(_pause(look), left))
                    continue
                await watch.changed(min(_IDLE_LOOK, left))
                # Changes come in bursts (a pod, its ReplicaSet, Deployment, Events): judge
                # them together, spending at most a third of the time judging, so the wait
                # does not take the CPU from the controllers it waits for.
                await asyncio.sleep(min(2 * look, max(self.cluster.deadline - time.monotonic(), 0)))

    async def _confirming(
        self, outcome: Verdict, snapshot: Snapshot, since: dict[ObjectRef, float]
    ) -> bool:
        """Whether to wait a little longer before failing, for the controller's own words.

        A workload whose ServiceAccount is absent is Blocked as soon as that is seen, before
        its controller has tried and said why it cannot (a ReplicaSet's FailedCreate quoting
        the API server); the deploy waits up to `_CONFIRM_SECONDS` (not past its deadline)
        to report the cluster's words, then reports what it has.

        Once the controller has created pods, no such words will come (a pod is refused at
        creation, not later: a missing ConfigMap, Secret or claim stops pods it created), so
        a read of the root cause decides at once instead of the timer. The read is needed:
        each collection of the look comes from its own watch, and a ConfigMap applied in an
        earlier wave may not have reached its cache when the pods' watch shows the pods;
        the timer used to hide that lag, the read says whether it exists now.
        """
        culprit = outcome.culprit
        if outcome.ready or culprit is None or not unconfirmed(culprit, snapshot):
            return False
        first = since.setdefault(culprit.ref, time.monotonic())
        now = time.monotonic()
        if now - first >= _CONFIRM_SECONDS or now + POLL_SECONDS >= self.cluster.deadline:
            return False
        cause = outcome.root_cause
        if cause is None or cause == culprit.ref or not pods_created(culprit.ref, snapshot):
            return True
        try:
            return await self.cluster.get(cause) is not None
        except KubeError:
            return True  # not readable now: the timer decides, as without pods

    def _report_transitions(
        self, statuses: Sequence[ResourceStatus], last: dict[ObjectRef, tuple[State, str]]
    ) -> None:
        """Log each object's state and reason when either changes: the last is the final."""
        for status in statuses:
            if last.get(status.ref) != (status.state, status.reason):
                last[status.ref] = (status.state, status.reason)
                self.log.emit(
                    Step.WAIT_TRANSITION,
                    f"{status.ref}: {status.state} {status.reason}: {status.message}",
                    level="warning" if status.state in (State.BLOCKED, State.FAILED) else "info",
                    ref=str(status.ref),
                    state=str(status.state),
                    reason=status.reason,
                    rootCause=str(status.root_cause) if status.root_cause else None,
                )

    def _report_unawaited(self, statuses: Sequence[ResourceStatus]) -> None:
        for status in statuses:
            if unawaited(status, wait_for_load_balancers=self.wait_for_load_balancers):
                controller = "ingress" if status.ref.kind == "Ingress" else "load-balancer"
                self.log.emit(
                    Step.WAIT_LOAD_BALANCER,
                    f"{status.ref}: no {controller} controller has assigned an address; "
                    "not waiting for it (--wait-for-load-balancers waits)",
                    level="warning",
                    ref=str(status.ref),
                    state=str(status.state),
                    reason=status.reason,
                )

    # ---- delete --------------------------------------------------------------------------

    async def owned_by_us(self, ref: ObjectRef) -> bool:
        live = await self.cluster.get(ref)
        return live is not None and owner_of(live) == release_id(self.namespace, self.name)

    async def owned(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        """Those of `refs` that exist and belong to this release (what an uninstall deletes)."""
        targets = list(refs)
        mine = await asyncio.gather(*(self.owned_by_us(r) for r in targets))
        return [r for r, ours in zip(targets, mine, strict=True) if ours]

    async def delete_and_wait(
        self,
        refs: Iterable[ObjectRef],
        *,
        only_owned: bool = False,
        propagation: str = "Background",
        wait: bool = True,
    ) -> list[ObjectRef]:
        """Delete `refs` (with that propagationPolicy) and, if `wait`, wait until they are gone;
        raise naming what is stuck and why."""
        targets = await self.owned(refs) if only_owned else list(refs)
        deleted = await asyncio.gather(
            *(self.cluster.delete(r, propagation=propagation) for r in targets)
        )
        for ref, was in zip(targets, deleted, strict=True):
            if was:
                self.log.emit(Step.OBJECT_DELETED, f"deletion requested for {ref}", ref=str(ref))
        if wait:
            await self._wait_gone(targets)
        return targets

    async def _wait_gone(self, targets: Sequence[ObjectRef]) -> None:
        """Wait until `targets` (deletion requested) are gone; raise naming what is stuck."""
        pause = _FIRST_LOOK
        stuck: list[tuple[ObjectRef, dict[str, Any]]] = []
        while True:
            try:
                lives = await asyncio.gather(*(self.cluster.get(r) for r in targets))
            except KubeError:
                # The deadline ran out during a look (a slow API server): what was stuck at
                # the last one is the answer, not the look's timeout.
                if not stuck or self.cluster.remaining() > POLL_SECONDS:
                    raise
            else:
                stuck = [(r, o) for r, o in zip(targets, lives, strict=True) if o is not None]
                if not stuck:
                    return
            if self.cluster.remaining() <= POLL_SECONDS:
                reasons = []
                for ref, live in stuck:
                    meta = live.get("metadata") or {}
                    finalizers = (
                        meta.get("finalizers") or (live.get("spec") or {}).get("finalizers") or ()
                    )
                    why = (
                        f"waiting for finalizers {', '.join(finalizers)}"
                        if finalizers
                        else "still present"
                    )
                    if ref.kind == "Namespace":
                        for cond in (live.get("status") or {}).get("conditions") or ():
                            if cond.get("status") == "True" and cond.get("message"):
                                why += f"; {cond.get('type')}: {cond.get('message')}"
                    reasons.append(f"{ref} is Terminating, {why}")
                raise DeployFailed("timed out deleting: " + "; ".join(reasons))
            await asyncio.sleep(pause)
            pause = min(2 * pause, POLL_SECONDS)

    async def delete_in_order(
        self,
        plan: Plan,
        *,
        only_owned: bool = True,
        propagation: str = "Background",
        wait: bool = True,
    ) -> list[ObjectRef]:
        """Delete a plan's objects wave by wave in reverse; CRDs from crds/ are kept (Helm).
        Without `wait` the deletions are requested in that order, none waited for (helm's)."""
        gone: list[ObjectRef] = []
        for wave in uninstall_order(plan):
            refs = [o.ref for o in wave if o.ref not in plan.chart_crds]
            if refs:
                gone.extend(
                    await self.delete_and_wait(
                        refs, only_owned=only_owned, propagation=propagation, wait=wait
                    )
                )
        return gone
