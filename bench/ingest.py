"""Benchmark 1: images/s through ImportItems vs the raw in-process encoder.

Both sides start from the same encoded JPEG bytes, so decode and resize are inside both
figures; the raw side runs at its best batch size, which is the most a server on this
machine could reach if gRPC, Triton, the store and Python cost nothing.

The server is measured two ways. "Embed only" is the work the raw encoder does: a
collection that skips NSFW scoring, inserts that skip duplicate checks; its ratio is the
issue's goal. "All checks" is a default collection and insert (NSFW model, duplicate
lookups and alignments on top), which costs what those features cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from imagesearch_client import AsyncImageSearchClient, InsertItem

BATCH_CANDIDATES = (1, 4, 8, 16, 32)
STREAM_TIMEOUT_S = 3600


@dataclass(frozen=True)
class IngestMode:
    """How the benchmark's collection and inserts are set up."""

    label: str
    skip_nsfw_scoring: bool
    duplicate_policy: str


EMBED_ONLY = IngestMode("embed only (skip_nsfw_scoring, DUPLICATE_POLICY_IGNORE)", True, "ignore")
ALL_CHECKS = IngestMode("all checks (defaults: NSFW score, duplicate lookup)", False, "allow")


async def server_ingest(
    address: str, collection: str, images: Sequence[bytes], mode: IngestMode = ALL_CHECKS
) -> float:
    """Create `collection` as `mode` says, stream `images` into it in one ImportItems call; images/s.

    Raises if any item failed: a rate that counts errors would flatter the server.
    """
    async with AsyncImageSearchClient(address, timeout=60) as client:
        await client.create_collection(collection, skip_nsfw_scoring=mode.skip_nsfw_scoring)
        items = [
            InsertItem(image=data, id=str(i), duplicate_policy=mode.duplicate_policy) for i, data in enumerate(images)
        ]
        started = time.perf_counter()
        failures = [o async for o in client.import_items(collection, items, timeout=STREAM_TIMEOUT_S) if not o.ok]
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} inserts failed, first: {failures[0]}")
    return len(images) / elapsed
