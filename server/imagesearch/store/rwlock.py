"""A readers-writer lock for asyncio tasks, writer-preferring."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable


class RWLock:
    """Many shared holders or one exclusive holder.

    Waiting exclusive holders block new shared ones, so a shard swap is not starved by a
    steady stream of queries. Releases are synchronous, so a cancelled task never leaks a hold.
    """

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._waiters: list[asyncio.Future[None]] = []

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the lock alongside other shared holders."""
        await self._wait_until(lambda: not self._writer and self._writers_waiting == 0)
        self._readers += 1
        try:
            yield
        finally:
            self._readers -= 1
            self._wake()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the lock alone."""
        self._writers_waiting += 1
        try:
            await self._wait_until(lambda: not self._writer and self._readers == 0)
        finally:
            self._writers_waiting -= 1
            self._wake()
        self._writer = True
        try:
            yield
        finally:
            self._writer = False
            self._wake()

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
