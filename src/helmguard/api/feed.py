"""The live stream's source: one poller reads new rows by id and fans them out in-process.

Three tables are followed: status transitions, operation-log steps and Kubernetes Events
(an Event when first stored: a count growing later updates its row, with no new id).

Polling the store's tables by id (not an in-process hook) means the stream shows what
was written by this process or by any other writer of the same database (a CLI deploy
beside `serve`). On PostgreSQL ids are handed out before commit, so a row can become
visible after rows with higher ids: an id skipped over is looked for again for
GAP_SECONDS (a transaction open longer than that is not expected) before it is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmguard import metrics
from helmguard.api.schemas import kube_event, step_event, transition_event
from helmguard.store import FeedEvent, FeedStep, FeedTransition, ReleaseKey, Store

log = logging.getLogger(__name__)


GAP_SECONDS = 10.0
MAX_GAPS = 1000


@dataclass
class _Cursor:
    """The highest id published from one table, and lower ids not seen yet (with deadlines)."""

    last: int = 0
    gaps: dict[int, float] = field(default_factory=dict)

    def seen(self, row_id: int, now: float) -> None:
        if row_id <= self.last:
            self.gaps.pop(row_id, None)
            return
        for missing in range(max(self.last + 1, row_id - MAX_GAPS), row_id):
            self.gaps[missing] = now + GAP_SECONDS
        self.last = row_id

    def open_gaps(self, now: float) -> list[int]:
        """The skipped ids still worth looking for (expired ones are dropped)."""
        for row_id in [i for i, until in self.gaps.items() if until < now]:
            del self.gaps[row_id]
        if len(self.gaps) > MAX_GAPS:
            for row_id in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[row_id]
        return sorted(self.gaps)


@dataclass(frozen=True)
class Message:
    """One encoded server-sent event and the release it concerns."""

    release: ReleaseKey
    data: bytes


def encode(event: str, event_id: str, payload: Mapping[str, Any]) -> bytes:
    """A server-sent event: id, event type, one line of JSON data."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


@dataclass(eq=False)
class Subscription:
    """A subscriber's queue; `release` None means every release (of `cluster` if given)."""

    release: ReleaseKey | None
    cluster: str | None = None
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(20_000))
    overflowed: bool = False

    def offer(self, message: Message) -> None:
        if self.release is not None and message.release != self.release:
            return
        if self.cluster is not None and message.release.cluster != self.cluster:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A client this far behind resynchronises by reloading; never block the others.
            self.overflowed = True


class Feed:
    """Polls the store for transitions and operation-log rows newer than the last seen ids."""

    def __init__(self, reader: Store, *, interval: float = 0.2) -> None:
        self._reader = reader
        self.interval = interval
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._transitions = _Cursor()
        self._steps = _Cursor()
        self._events = _Cursor()
        self.healthy = False
        self.last_error = ""
        self._listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        """Begin after the newest rows already stored (the stream carries changes only)."""
        try:
            last = await self._reader.last_ids()
            self._transitions.last, self._steps.last, self._events.last = last
            self.healthy = True
        except Exception as exc:  # the poller keeps trying; /readyz reports it
            self.last_error = str(exc)
        self._task = asyncio.create_task(self._run(), name="helmguard-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.end_streams()

    def end_streams(self) -> None:
        """End every open subscription (its stream's response completes): a server that is
        stopping does so before it waits for its connections, which open streams would hold."""
        for sub in list(self._subs):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, release: ReleaseKey | None, cluster: str | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the `async with` block: to `release`'s
        messages, else to every release's (of `cluster` if given)."""
        sub = Subscription(release, cluster)
        self._subs.add(sub)
        metrics.STREAM_CLIENTS.set(len(self._subs))
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            metrics.STREAM_CLIENTS.set(len(self._subs))

    def _publish(self, message: Message) -> None:
        for sub in self._subs:
            sub.offer(message)

    async def poll_once(self) -> int:
        """Read and publish everything new; return how many rows were published."""
        now = time.monotonic()
        published = 0
        # Rows that committed late, below ids already published.
        if gaps := self._transitions.open_gaps(now):
            late_transitions = await self._reader.transitions_after(gaps[0] - 1, among=gaps)
            published += self._publish_transitions(late_transitions, now)
        if gaps := self._steps.open_gaps(now):
            late_steps = await self._reader.steps_after(gaps[0] - 1, among=gaps)
            published += self._publish_steps(late_steps, now)
        if gaps := self._events.open_gaps(now):
            late_events = await self._reader.events_after(gaps[0] - 1, among=gaps)
            published += self._publish_events(late_events, now)
        while True:
            transitions, steps, events = await self._reader.feed_after(
                self._transitions.last, self._steps.last, self._events.last
            )
            published += self._publish_transitions(transitions, now)
            published += self._publish_steps(steps, now)
            published += self._publish_events(events, now)
            if max(len(transitions), len(steps), len(events)) < 1000:
                return published

    def _publish_transitions(self, rows: list[FeedTransition], now: float) -> int:
        for t in rows:
            metrics.TRANSITIONS.labels(to_state=t.transition.to_state).inc()
            event = encode("transition", f"t{t.id}", transition_event(t))
            self._publish(Message(t.transition.release, event))
            self._transitions.seen(t.id, now)
        return len(rows)

    def _publish_steps(self, rows: list[FeedStep], now: float) -> int:
        for s in rows:
            self._publish(Message(s.entry.release, encode("operation", f"o{s.id}", step_event(s))))
            self._steps.seen(s.id, now)
        return len(rows)

    def _publish_events(self, rows: list[FeedEvent], now: float) -> int:
        for e in rows:
            self._publish(Message(e.release, encode("event", f"e{e.id}", kube_event(e))))
            self._events.seen(e.id, now)
        return len(rows)

    async def _run(self) -> None:
        delay = self.interval
        while True:
            try:
                await self.poll_once()
                self.healthy = True
                self.last_error = ""
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                self.last_error = str(exc)
                log.warning("live stream: reading the store failed: %s", exc)
                delay = min(delay * 2, 5.0)
            await asyncio.sleep(delay)
