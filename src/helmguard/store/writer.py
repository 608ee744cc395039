"""A store's writer: one task per process drains a queue of writes in batched transactions.

Group commit: a transaction takes everything queued (up to `max_batch` operations), runs it
and commits; what arrives meanwhile forms the next batch. So a lone write commits at once,
and under load many writes share one transaction. Operations run in queue order, so writes
for one object land in the order they were submitted. If a batch fails, each of its
operations is retried alone, so one bad write fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from helmguard.store.db import Backend
from helmguard.store.errors import StoreError

Operation = Callable[[Connection], Any]
Describe = Callable[[BaseException], StoreError]


@dataclass(eq=False)
class _Item:
    operation: Operation | None  # None: a flush marker, nothing to execute
    future: asyncio.Future[Any] | None  # None: the caller did not wait (see `post`)


class BatchWriter:
    """Owns all writes of a Store; `submit` waits for the commit, `post` does not."""

    def __init__(self, backend: Backend, describe: Describe, *, max_batch: int = 500) -> None:
        self._backend = backend
        self._describe = describe
        self._max_batch = max_batch
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
        self._queue.put_nowait(None)
        await self._task
        if self._failure is not None:
            raise self._failure
        self._raise_deferred()

    async def _run(self) -> None:
        try:
            stop = False
            while not stop:
                first = await self._queue.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        following = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if following is None:
                        stop = True
                        break
                    batch.append(following)
                await self._commit(batch)
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

    async def _commit(self, batch: list[_Item]) -> None:
        operations = [item.operation for item in batch]
        if any(op is not None for op in operations):

            def run_all(connection: Connection) -> list[Any]:
                return [op(connection) if op is not None else None for op in operations]

            try:
                results = await self._backend.run(run_all)
            except Exception:
                # Something in the batch failed and rolled it all back: redo each write alone.
                await self._one_by_one(batch)
                return
            self.batches_committed += 1
        else:
            results = [None] * len(batch)
        for item, result in zip(batch, results, strict=True):
            if item.future is not None and not item.future.done():
                item.future.set_result(result)

    async def _one_by_one(self, batch: list[_Item]) -> None:
        for item in batch:
            result = None
            if item.operation is not None:
                try:
                    result = await self._backend.run(item.operation)
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
