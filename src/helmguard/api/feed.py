"""The live stream's source: one poller reads new rows by id and fans them out in-process.

Polling the store's tables by id (not an in-process hook) means the stream shows what
was written by this process or by any other writer of the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmguard import metrics
from helmguard.api.queries import Reader
from helmguard.api.schemas import step_event, transition_event
from helmguard.store import ReleaseKey

log = logging.getLogger(__name__)


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
    """A subscriber's queue; `release` None means every release."""

    release: ReleaseKey | None
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(20_000))
    overflowed: bool = False

    def offer(self, message: Message) -> None:
        if self.release is not None and message.release != self.release:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A client this far behind resynchronises by reloading; never block the others.
            self.overflowed = True


class Feed:
    """Polls the store for transitions and operation-log rows newer than the last seen ids."""

    def __init__(self, reader: Reader, *, interval: float = 0.2) -> None:
        self._reader = reader
        self.interval = interval
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_transition = 0
        self._last_step = 0
        self.healthy = False
        self.last_error = ""
        self._listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        """Begin after the newest rows already stored (the stream carries changes only)."""
        try:
            self._last_transition, self._last_step = await self._reader.last_ids()
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
        for sub in list(self._subs):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self, release: ReleaseKey | None) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the `async with` block."""
        sub = Subscription(release)
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
        published = 0
        while True:
            transitions = await self._reader.transitions_after(self._last_transition)
            for t in transitions:
                metrics.TRANSITIONS.labels(to_state=t.transition.to_state).inc()
                self._publish(
                    Message(
                        t.transition.release, encode("transition", f"t{t.id}", transition_event(t))
                    )
                )
                self._last_transition = t.id
            steps = await self._reader.steps_after(self._last_step)
            for s in steps:
                self._publish(
                    Message(s.entry.release, encode("operation", f"o{s.id}", step_event(s)))
                )
                self._last_step = s.id
            published += len(transitions) + len(steps)
            if len(transitions) < 1000 and len(steps) < 1000:
                return published

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
