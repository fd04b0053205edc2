"""The API process's image work (decoding for fingerprints, thumbnail alignment of
duplicate candidates) on a bounded pool of its own.

A server-wide cap on images being decoded at once (issue 10): however many inserts and
queries arrive, at most `workers` decodes run, each holding one decoded image, and they
run apart from the default executor that asyncio.to_thread and the store's shard calls use,
so a burst of inserts cannot starve the store of threads. Pillow and OpenCV release the GIL
while they work, so `workers` threads use up to that many cores.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, TypeVar

T = TypeVar("T")


class DecodePool:
    """At most `workers` calls run at once; the rest wait in order."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"decode_concurrency must be at least 1, not {workers}")
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagesearch-decode")
        self._lock = threading.Lock()
        self._running = 0
        self.peak = 0  # most calls seen running at once (for tests and metrics)

    async def run(self, function: Callable[..., T], *args) -> T:
        """`function(*args)` on the pool, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(self._counted, function, *args))

    def _counted(self, function: Callable[..., T], *args) -> T:
        with self._lock:
            self._running += 1
            self.peak = max(self.peak, self._running)
        try:
            return function(*args)
        finally:
            with self._lock:
                self._running -= 1

    def close(self) -> None:
        """Finish the calls already started; later ones fail."""
        self._executor.shutdown(wait=True, cancel_futures=True)
