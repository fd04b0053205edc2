"""NSFW scores through Triton's `nsfw` model (open_nsfw) over gRPC (asyncio)."""

from __future__ import annotations

import numpy as np
from tritonclient.grpc.aio import (
    InferInput,
    InferRequestedOutput,
)

from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.triton_client import (
    INPUT_NAME,
    TritonModelClient,
)

NSFW_MODEL = "nsfw"
OUTPUT_NAME = "NSFW_SCORE"
# open_nsfw's authors: scores above 0.8 are very likely NSFW, below 0.2 very likely safe.
# The label uses the upper one, so that "nsfw" rarely marks an ordinary photo.
NSFW_LABEL_THRESHOLD = 0.8


class NsfwScorer(TritonModelClient):
    """Client of the `nsfw` model: encoded image bytes -> probability of NSFW content."""

    def __init__(self, url: str, model: str = NSFW_MODEL, timeout_s: float = 30.0) -> None:
        super().__init__(url, model, timeout_s)

    async def score(self, image: bytes) -> float:
        """0..1; one image per request so Triton's batcher groups concurrent callers.
        Raises InvalidImage or InferenceUnavailable."""
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        result = await self._call(
            self._client.infer(
                self._model, [tensor], outputs=[InferRequestedOutput(OUTPUT_NAME)], client_timeout=self._timeout_s
            )
        )
        scores = result.as_numpy(OUTPUT_NAME)
        if scores is None or scores.size != 1:
            raise InferenceUnavailable(f"model {self._model!r} returned no single score")
        return float(scores.reshape(-1)[0])
