"""Benchmark 1: images/s through InsertStream vs the raw in-process encoder.

Both sides start from the same encoded JPEG bytes, so decode and resize are inside both
figures; the raw side runs at its best batch size, which is the most a server on this
machine could reach if gRPC, Triton, the store and Python cost nothing.
"""

from __future__ import annotations

import time
from typing import Sequence

from imagesearch_client import AsyncImageSearchClient, InsertItem

BATCH_CANDIDATES = (1, 4, 8, 16, 32)
STREAM_TIMEOUT_S = 3600


async def server_ingest(address: str, collection: str, images: Sequence[bytes]) -> float:
    """Create `collection`, stream `images` into it in one InsertStream; images/s.

    Raises if any item failed: a rate that counts errors would flatter the server.
    """
    async with AsyncImageSearchClient(address, timeout=60) as client:
        await client.create_collection(collection)
        items = [InsertItem(image=data, id=str(i)) for i, data in enumerate(images)]
        started = time.perf_counter()
        failures = [o async for o in client.insert_stream(collection, items, timeout=STREAM_TIMEOUT_S) if not o.ok]
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} inserts failed, first: {failures[0]}")
    return len(images) / elapsed
