"""NSFW scores through Triton's `nsfw` model (open_nsfw) over gRPC (asyncio)."""

from __future__ import annotations

import numpy as np
from tritonclient.grpc.aio import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.triton_client import INPUT_NAME, translate_error

NSFW_MODEL = "nsfw"
OUTPUT_NAME = "NSFW_SCORE"
# open_nsfw's authors: scores above 0.8 are very likely NSFW, below 0.2 very likely safe.
# The label uses the upper one, so that "nsfw" rarely marks an ordinary photo.
NSFW_LABEL_THRESHOLD = 0.8


class NsfwScorer:
    """Client of the `nsfw` model: encoded image bytes -> probability of NSFW content."""

    def __init__(self, url: str, model: str = NSFW_MODEL, timeout_s: float = 30.0) -> None:
        self._model = model
        self._timeout_s = timeout_s
        self._client = InferenceServerClient(url)

    async def score(self, image: bytes) -> float:
        """0..1; one image per request so Triton's batcher groups concurrent callers.
        Raises InvalidImage or InferenceUnavailable."""
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        try:
            result = await self._client.infer(
                self._model, [tensor], outputs=[InferRequestedOutput(OUTPUT_NAME)], client_timeout=self._timeout_s
            )
        except InferenceServerException as exc:
            raise translate_error(exc) from exc
        scores = result.as_numpy(OUTPUT_NAME)
        if scores is None or scores.size != 1:
            raise InferenceUnavailable(f"model {self._model!r} returned no single score")
        return float(scores.reshape(-1)[0])

    async def is_ready(self) -> bool:
        """True when the model accepts requests; never raises."""
        try:
            return bool(await self._client.is_model_ready(self._model, client_timeout=self._timeout_s))
        except InferenceServerException:
            return False

    async def close(self) -> None:
        """Close the gRPC channel."""
        await self._client.close()
