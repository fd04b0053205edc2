"""The API process's decode pool: a server-wide cap on images decoded at once (issue 10),
on threads apart from the store's, used by every insert's fingerprint and duplicate check."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from PIL import Image

from api_fakes import FakeServer, start_fake_server
from imagesearch.config import Settings
from imagesearch.decode_pool import DecodePool
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.limits import DEFAULT_DECODE_CONCURRENCY


def photo(seed: int) -> bytes:
    image = Image.effect_noise((640, 480), 40 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def test_no_more_decodes_run_at_once_than_the_cap() -> None:
    pool = DecodePool(3)
    running, peak, lock = 0, 0, threading.Lock()
    images = [photo(k) for k in range(4)]

    def decode(data: bytes):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.02)  # a slow decode: without the cap all 24 would overlap here
            return fingerprint(data)
        finally:
            with lock:
                running -= 1

    try:
        prints = await asyncio.gather(*(pool.run(decode, images[k % 4]) for k in range(24)))
    finally:
        pool.close()
    assert peak == 3 and pool.peak == 3  # the cap, and reached: the pool does not serialise
    assert len({p.sha256 for p in prints}) == 4
    assert threading.current_thread().name not in {"imagesearch-decode"}


def test_the_cap_is_a_setting_with_its_default_in_limits() -> None:
    assert Settings().decode_concurrency == DEFAULT_DECODE_CONCURRENCY
    with pytest.raises(ValueError, match="decode_concurrency"):
        DecodePool(0)


async def test_concurrent_inserts_decode_within_the_cap(tmp_path) -> None:
    fake: FakeServer = await start_fake_server(tmp_path / "data", insert_concurrency=16)
    try:
        ctx = fake.service.ctx
        await fake.store.create_collection(
            "pool", next(iter(ctx.model_sets.values())).record
        )
        requests = [
            pb.CreateItemRequest(parent="collections/pool", item_id=f"p{k}", image=pb.Image(content=photo(k)))
            for k in range(16)
        ]
        items = await asyncio.gather(*(fake.service.ingestor.create(r) for r in requests))
        assert [i.item_id for i in items] == [f"p{k}" for k in range(16)]
        assert 1 <= ctx.decode.peak <= ctx.limits.decode_concurrency == DEFAULT_DECODE_CONCURRENCY
    finally:
        await fake.stop()
