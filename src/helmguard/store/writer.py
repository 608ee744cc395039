"""The single writer: one task drains a queue of write operations in batched transactions.

Concurrent callers' writes share a transaction (group commit): a transaction takes what is
queued, up to `max_batch` operations or `max_delay` seconds, then commits. Operations run in
queue order, so writes for one object land in the order they were submitted. If a batch
fails, each of its operations is retried alone, so one bad write fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from helmguard.store.errors import StoreError

Operation = Callable[[AsyncConnection], Awaitable[Any]]
Describe = Callable[[BaseException], StoreError]


@dataclass(eq=False)
class _Item:
    operation: Operation | None  # None: a flush marker, nothing to execute
    future: asyncio.Future[Any] | None  # None: the caller did not wait (see `post`)


_STOP = None


class BatchWriter:
    """Owns all writes of a Store; `submit` waits for the commit, `post` does not."""

    def __init__(
        self,
        engine: AsyncEngine,
        describe: Describe,
        *,
        max_batch: int = 500,
        max_delay: float = 0.05,
    ) -> None:
        self._engine = engine
        self._describe = describe
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._deferred_errors: list[StoreError] = []
        self._failure: StoreError | None = None
        self._closing = False
        self.batches_committed = 0

    def start(self) -> None:
        """Start the writer task on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="helmguard-writer")

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closing or self._task is None:
            raise StoreError("the store is closed; open it again to write")

    async def submit(self, operation: Operation) -> Any:
        """Queue `operation` and return its result once its transaction has committed."""
        self._check_open()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(operation, future))
        return await future

    def post(self, operation: Operation) -> None:
        """Queue `operation` without waiting; a failure is raised by the next `flush()`."""
        self._check_open()
        self._queue.put_nowait(_Item(operation, None))

    async def flush(self) -> None:
        """Return once everything queued before this call is committed (or has failed)."""
        self._check_open()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(None, future))
        await future
        self._raise_deferred()

    def _raise_deferred(self) -> None:
        if self._deferred_errors:
            errors, self._deferred_errors = self._deferred_errors, []
            more = f" (and {len(errors) - 1} more failed writes)" if len(errors) > 1 else ""
            raise StoreError(f"{errors[0]}{more}") from errors[0]

    async def close(self) -> None:
        """Commit what is queued, stop the task, and raise any write failure nobody saw yet."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._queue.put_nowait(_STOP)
        await self._task
        if self._failure is not None:
            raise self._failure
        self._raise_deferred()

    async def _run(self) -> None:
        try:
            while True:
                first = await self._queue.get()
                if first is _STOP:
                    return
                if first.operation is None and first.future is not None:
                    # A flush marker at the head of the queue: everything before it is done.
                    if not first.future.done():
                        first.future.set_result(None)
                    continue
                if not await self._batch(first):
                    return
        except BaseException as exc:
            # A bug in the writer must not leave callers waiting forever.
            self._failure = StoreError(f"the store's writer stopped: {exc!r}")
            self._fail_pending(self._failure)
            raise

    def _fail_pending(self, error: StoreError) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if item is not None and item.future is not None and not item.future.done():
                item.future.set_exception(error)

    async def _batch(self, first: _Item) -> bool:
        """Run one transaction; return False when the stop marker was taken from the queue."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_delay
        batch = [first]
        results: list[Any] = []
        keep_running = True
        try:
            async with self._engine.begin() as connection:
                while True:
                    item = batch[len(results)]
                    op = item.operation
                    results.append(await op(connection) if op is not None else None)
                    if len(batch) >= self._max_batch or loop.time() >= deadline:
                        break
                    try:
                        following = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if following is _STOP:
                        keep_running = False
                        break
                    batch.append(following)
        except Exception:
            # Something in the batch failed and rolled it all back: redo each write alone.
            await self._one_by_one(batch)
            return keep_running
        self.batches_committed += 1
        for item, result in zip(batch, results, strict=True):
            if item.future is not None and not item.future.done():
                item.future.set_result(result)
        return keep_running

    async def _one_by_one(self, batch: list[_Item]) -> None:
        for item in batch:
            try:
                result = None
                if item.operation is not None:
                    async with self._engine.begin() as connection:
                        result = await item.operation(connection)
            except Exception as exc:
                error = exc if isinstance(exc, StoreError) else self._describe(exc)
                if item.future is None:
                    self._deferred_errors.append(error)
                elif not item.future.done():
                    item.future.set_exception(error)
                continue
            self.batches_committed += 1
            if item.future is not None and not item.future.done():
                item.future.set_result(result)
