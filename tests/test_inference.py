"""The image_embedding model served by a real tritonserver, through ImageEncoder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import COREL, REPO_ROOT, corel_path
from images import png_declaring
from imagesearch.inference.errors import InvalidImage
from imagesearch.inference.triton_client import EncoderInfo, ImageEncoder
from imagesearch.launcher.triton import (
    TritonLaunchConfig,
    TritonProcess,
    TritonStartError,
    free_port,
)
from imagesearch.models.setup import ensure_model_repository

MODEL_REPOSITORY = REPO_ROOT / "model_repository"
START_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not COREL.is_dir(), reason="Corel-1K photos are not available"),
]


def launch_config(
    work_dir: Path, models: tuple[str, ...] = ("image_embedding",)
) -> TritonLaunchConfig:
    return TritonLaunchConfig(
        model_repository=MODEL_REPOSITORY,
        grpc_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        work_dir=work_dir,
        models=models,
    )


@pytest.fixture(scope="module")
async def triton(tmp_path_factory: pytest.TempPathFactory):
    ensure_model_repository(MODEL_REPOSITORY)
    process = TritonProcess(launch_config(tmp_path_factory.mktemp("triton")))
    await process.start()
    try:
        await process.wait_ready(START_TIMEOUT_S)
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def encoder(triton: TritonProcess):
    encoder = ImageEncoder(triton.url)
    yield encoder
    await encoder.close()


def corel(index: int) -> bytes:
    return corel_path(index).read_bytes()


async def test_info_comes_from_the_model_config(encoder: ImageEncoder) -> None:
    assert await encoder.info() == EncoderInfo("efficientnet-lite0-imagenet", "1", 1280)
    assert await encoder.is_ready()


async def test_embeddings_are_deterministic_unit_vectors(encoder: ImageEncoder) -> None:
    first, second = await asyncio.gather(encoder.embed(corel(5)), encoder.embed(corel(5)))
    assert first.shape == (1280,) and first.dtype == np.float32
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5
    # Equal up to float rounding even if the two land in different batch sizes.
    np.testing.assert_allclose(first, second, atol=1e-5)


async def test_same_class_is_closer_than_other_classes(encoder: ImageEncoder) -> None:
    # Corel-1K: class = index // 100 (4: dinosaurs, 7: horses, 1: beaches).
    dino_a, dino_b, horse, beach = await asyncio.gather(
        *(encoder.embed(corel(i)) for i in (400, 401, 700, 100))
    )
    same = float(dino_a @ dino_b)
    assert same > float(dino_a @ horse)
    assert same > float(dino_a @ beach)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty", lambda: b"", "empty"),
        ("not an image", lambda: b"not an image", "format"),
        ("truncated JPEG", lambda: corel(0)[: len(corel(0)) // 2], "truncated"),
        ("decompression bomb", lambda: png_declaring(50000, 50000), "pixels"),
    ],
)
async def test_bad_image_fails_only_its_own_request(
    encoder: ImageEncoder, name: str, data, reason: str
) -> None:
    bad, good = await asyncio.gather(
        encoder.embed(data()), encoder.embed(corel(1)), return_exceptions=True
    )
    assert isinstance(bad, InvalidImage), f"{name}: {bad!r}"
    assert reason in str(bad)
    assert "Failed to process" not in str(bad)  # Triton boilerplate stripped
    assert isinstance(good, np.ndarray) and good.shape == (1280,)


async def settled_statistics(encoder: ImageEncoder, at_least: int = 0) -> dict[int, int]:
    """Batch statistics once they stop changing: Triton updates them just after it sends
    a response, so earlier requests may still be on their way into the counts."""
    previous = await encoder.batch_statistics()
    for _ in range(50):
        await asyncio.sleep(0.2)
        current = await encoder.batch_statistics()
        if current == previous and sum(s * n for s, n in current.items()) >= at_least:
            return current
        previous = current
    return previous


async def test_concurrent_requests_are_batched(encoder: ImageEncoder) -> None:
    before = await settled_statistics(encoder)
    embeddings = await asyncio.gather(*(encoder.embed(corel(i)) for i in range(200, 216)))
    after = await settled_statistics(encoder, sum(s * n for s, n in before.items()) + 16)
    assert len(embeddings) == 16
    new_batches = {size: after[size] - before.get(size, 0) for size in after}
    # >= rather than ==: Triton counts an execution just after answering it, so the
    # previous test's last requests can land in this window.
    assert sum(size * count for size, count in new_batches.items()) >= 16
    assert any(size > 1 and count > 0 for size, count in new_batches.items()), new_batches


async def test_stop_leaves_no_process(tmp_path: Path) -> None:
    process = TritonProcess(launch_config(tmp_path))
    await process.start()
    await process.wait_ready(START_TIMEOUT_S)
    await process.stop()
    # Triton leads its own process group; the Python-backend stubs are in it too.
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


async def test_model_that_fails_to_load_is_reported_with_the_log(tmp_path: Path) -> None:
    process = TritonProcess(launch_config(tmp_path, models=("image_embedding", "no_such_model")))
    await process.start()
    try:
        with pytest.raises(TritonStartError, match="no_such_model") as failure:
            await process.wait_ready(START_TIMEOUT_S)
        # The reason comes from Triton's own log.
        assert "not found in any model repository" in str(failure.value)
    finally:
        await process.stop()


async def test_corel_retrieval_quality(encoder: ImageEncoder) -> None:
    # The whole pipeline (decode, batching, ONNX) must keep the in-process quality: class
    # precision@10 >= 0.95 (query left out) and every image finding itself first.
    semaphore = asyncio.Semaphore(32)

    async def embed(index: int) -> np.ndarray:
        async with semaphore:
            return await encoder.embed(corel(index))

    index = np.stack(await asyncio.gather(*(embed(i) for i in range(1000))))
    labels = np.arange(1000) // 100
    similarity = index @ index.T
    np.fill_diagonal(similarity, -np.inf)
    top10 = np.argsort(-similarity, axis=1)[:, :10]
    precision = float(np.mean(labels[top10] == labels[:, None]))
    assert precision >= 0.95, precision

    # Queries one at a time (batch size 1) against vectors made in batches.
    for query_index in range(0, 1000, 50):
        scores = index @ await encoder.embed(corel(query_index))
        assert int(np.argmax(scores)) == query_index
        assert float(scores[query_index]) >= 0.99
