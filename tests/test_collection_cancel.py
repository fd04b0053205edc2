"""A shard call's worker thread cannot be stopped: a cancelled caller must keep the shard
open until the thread returns (store/collection.py LiveCollection.run)."""

from __future__ import annotations

import asyncio
import time

import pytest

from imagesearch.store.collection import LiveCollection


class _RecordingShard:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def flush(self) -> None:
        self.events.append("flush")

    def close(self) -> None:
        self.events.append("close")


async def test_close_waits_for_the_thread_of_a_cancelled_call() -> None:
    events: list[str] = []

    def slow_write(shard: _RecordingShard) -> None:
        time.sleep(0.3)
        events.append("write done")

    live = LiveCollection(paths=None, model_set=None, created_at=0.0, settings=None, shard=_RecordingShard(events))
    call = asyncio.create_task(live.run(slow_write))
    await asyncio.sleep(0.05)  # the write's thread is running
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await live.close()
    assert events == ["write done", "flush", "close"]


async def test_a_call_that_is_not_cancelled_returns_its_result_and_errors() -> None:
    live = LiveCollection(paths=None, model_set=None, created_at=0.0, settings=None, shard=_RecordingShard([]))
    assert await live.run(lambda shard, x: x * 2, 21) == 42

    def failing(shard: _RecordingShard) -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await live.run(failing)
