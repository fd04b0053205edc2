"""Triton's image_analysis pipeline, on the session server's own Triton (no Triton of its own).

It must give what the separate models and the API server's fingerprint gave, fail a bad
image's request alone, and be what the server's inserts call.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from imagesearch_client import InsertItem

from bench.triton import inference_stats
from conftest import COREL, corel_path
from images import png_declaring
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.inference.analysis import AnalysisRequest, ImageAnalyser
from imagesearch.inference.errors import InvalidImage
from imagesearch.inference.nsfw import NsfwScorer
from imagesearch.inference.triton_client import ImageEncoder

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not COREL.is_dir(), reason="Corel-1K photos are not available"),
]
VECTORS = ("EMBEDDING", "TEXT_IMAGE_EMBEDDING")


def _url(server) -> str:
    return f"127.0.0.1:{server.triton_grpc_port}"


async def test_pipeline_matches_the_separate_models_and_the_fingerprint(server) -> None:
    url = _url(server)
    analyser, encoder, scorer = ImageAnalyser(url), ImageEncoder(url), NsfwScorer(url)
    try:
        for index in (0, 350, 999):
            data = corel_path(index).read_bytes()
            result = await analyser.analyse(data, AnalysisRequest(VECTORS, nsfw=True))
            separate = await encoder.embed_outputs(data, VECTORS)
            for name in VECTORS:
                assert np.allclose(result.vectors[name], separate[name], atol=1e-5), (index, name)
            assert result.nsfw_score == pytest.approx(await scorer.score(data), abs=1e-5)
            old = fingerprint(data)
            assert result.fingerprint.phash == old.phash
            assert np.array_equal(result.fingerprint.thumb, old.thumb)
        lean = await analyser.analyse(data, AnalysisRequest(("EMBEDDING",), nsfw=False, fingerprint=False))
        assert lean.nsfw_score is None and lean.fingerprint is None and set(lean.vectors) == {"EMBEDDING"}
    finally:
        for client in (analyser, encoder, scorer):
            await client.close()


async def test_bad_images_fail_only_their_own_requests_of_a_batch(server) -> None:
    analyser = ImageAnalyser(_url(server))
    good = [corel_path(i).read_bytes() for i in range(6)]
    truncated = good[0][: len(good[0]) // 3]
    inputs = [*good[:3], b"not an image", *good[3:], truncated, png_declaring(9_000, 9_000)]
    try:
        results = await asyncio.gather(
            *(analyser.analyse(data, AnalysisRequest(VECTORS, nsfw=True)) for data in inputs), return_exceptions=True
        )
    finally:
        await analyser.close()
    bad = {3, 7, 8}
    for index, result in enumerate(results):
        if index in bad:
            assert isinstance(result, InvalidImage), (index, result)
        else:
            assert not isinstance(result, BaseException), (index, result)
            assert result.vectors["EMBEDDING"].shape == (1280,) and 0 <= result.nsfw_score <= 1
    assert "more than the limit" in str(results[8])


async def test_server_inserts_go_through_the_pipeline(server, client) -> None:
    """The pipeline's request count grows by one per insert (and the API server's fingerprint
    matches what it would have computed itself: test_duplicates covers finding copies)."""
    before = (await inference_stats(_url(server), "image_analysis"))["requests"]
    client.create_collection("pipeline_inserts")
    for index in (1, 2):
        client.create_item("pipeline_inserts", InsertItem(image=corel_path(index).read_bytes(), id=str(index)))
    after = (await inference_stats(_url(server), "image_analysis"))["requests"]
    assert after - before == 2
