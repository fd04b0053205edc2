"""Benchmark 2: one-image SearchItems latency, against encode + vector search in-process.

The in-process reference for each query is the sum of the two steps a SearchItems call performs,
each timed alone: encode the image (decode included, batch of one) with the model's own
preprocessing and ONNX file, and search an embedded store holding the same vectors.
Server and reference alternate query by query so drifting machine load hits both alike.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoder import InProcessEncoder
from imagesearch.inference.triton_client import ImageEncoder
from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.shard_config import IndexSettings
from imagesearch_client import AsyncImageSearchClient

# The one vector space of the benchmark collections.
SPACE = "image"

TOP_K = 10
ENCODE_BATCH = 16
COLLECTION = "reference"


async def timed_search(client: AsyncImageSearchClient, collection: str, image: bytes) -> float:
    """Seconds for one SearchItems call, all hits received."""
    started = time.perf_counter()
    await client.search(collection, image, top_k=TOP_K)
    return time.perf_counter() - started


class InProcessReference:
    """Encoder + embedded store in this process, holding the same images as the server."""

    def __init__(self, encoder: InProcessEncoder, store: EdgeStore) -> None:
        self._encoder = encoder
        self._store = store

    @classmethod
    async def open(cls, encoder: InProcessEncoder, images: Sequence[bytes], data_dir: Path) -> InProcessReference:
        """Embed `images` and store them, as the server's collection holds them."""
        store = EdgeStore(data_dir, IndexSettings(threshold=0))
        vectors = np.concatenate(
            [encoder.encode(images[i : i + ENCODE_BATCH]) for i in range(0, len(images), ENCODE_BATCH)]
        )
        await store.create_collection(
            COLLECTION, ModelSetRecord("reference", (SpaceRecord(SPACE, ModelRecord("reference", "1", vectors.shape[1])),))
        )
        await store.upsert(COLLECTION, [PointToStore(id=str(i), vectors={SPACE: v}) for i, v in enumerate(vectors)])
        return cls(encoder, store)

    async def timed_query(self, image: bytes) -> tuple[float, float]:
        """(encode seconds, search seconds) of one image."""
        started = time.perf_counter()
        (vector,) = self._encoder.encode([image])
        encoded = time.perf_counter()
        await self._store.search(COLLECTION, vector, TOP_K)
        return encoded - started, time.perf_counter() - encoded

    async def close(self) -> None:
        await self._store.close()


async def timed_triton(encoder: ImageEncoder, image: bytes) -> float:
    """Seconds for one embedding straight from Triton, the call the API server makes."""
    started = time.perf_counter()
    await encoder.embed(image)
    return time.perf_counter() - started


async def one_client_interleaved(
    address: str, triton_url: str, collection: str, reference: InProcessReference, images: Sequence[bytes]
) -> dict[str, list[float]]:
    """Per image, alternating: server SearchItems, the same image through Triton directly (what
    the API server waits for), and the in-process reference's encode and search steps."""
    latencies: dict[str, list[float]] = {"server": [], "triton": [], "encode": [], "search": []}
    triton = ImageEncoder(triton_url)
    try:
        async with AsyncImageSearchClient(address, timeout=60) as client:
            # Connect and warm up every path once.
            await timed_search(client, collection, images[0])
            await timed_triton(triton, images[0])
            await reference.timed_query(images[0])
            for image in images:
                latencies["server"].append(await timed_search(client, collection, image))
                latencies["triton"].append(await timed_triton(triton, image))
                encode_s, search_s = await reference.timed_query(image)
                latencies["encode"].append(encode_s)
                latencies["search"].append(search_s)
    finally:
        await triton.close()
    return latencies


async def concurrent_clients(address: str, collection: str, images: Sequence[bytes], clients: int) -> list[float]:
    """Latencies of `clients` clients (one channel each) searching `images` between them."""

    async def one(client_images: Sequence[bytes]) -> list[float]:
        async with AsyncImageSearchClient(address, timeout=60) as client:
            await timed_search(client, collection, client_images[0])
            return [await timed_search(client, collection, image) for image in client_images]

    shares = [images[i::clients] for i in range(clients)]
    results = await asyncio.gather(*(one(share) for share in shares if share))
    return [latency for result in results for latency in result]
