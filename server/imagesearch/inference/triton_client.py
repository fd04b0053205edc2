"""Embedding images through Triton's `image_embedding` model over gRPC (asyncio)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tritonclient.grpc.aio import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from imagesearch.inference.errors import InferenceUnavailable, InvalidImage

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "EMBEDDING"
# model.py prefixes decode failures with this; everything after it is the reason.
INVALID_IMAGE_PREFIX = "invalid image:"


@dataclass(frozen=True)
class EncoderInfo:
    """The embedding model behind the encoder, as collections record it."""

    name: str
    version: str
    dimension: int


class ImageEncoder:
    """Client of one Triton model that maps encoded image bytes to unit vectors."""

    def __init__(self, url: str, model: str = "image_embedding", timeout_s: float = 30.0) -> None:
        self._model = model
        self._timeout_s = timeout_s
        self._client = InferenceServerClient(url)

    async def info(self) -> EncoderInfo:
        """Name and version (config.pbtxt parameters) and dimension (output dims) of the model."""
        response = await self._call(
            self._client.get_model_config(
                self._model, as_json=True, client_timeout=self._timeout_s
            )
        )
        config = response["config"]
        try:
            parameters = {k: v["string_value"] for k, v in config["parameters"].items()}
            (output,) = [o for o in config["output"] if o["name"] == OUTPUT_NAME]
            return EncoderInfo(
                name=parameters["embedding_model_name"],
                version=parameters["embedding_model_version"],
                dimension=int(output["dims"][-1]),
            )
        except (KeyError, ValueError) as exc:
            # A model repository that does not match this client: a deployment error.
            raise InferenceUnavailable(
                f"model {self._model!r} config lacks {OUTPUT_NAME} or the embedding_model_* "
                f"parameters ({exc!r})"
            ) from exc

    async def embed(self, image: bytes) -> np.ndarray:
        """Return the float32 unit-length embedding of one encoded image.

        One image per request on purpose: concurrent calls become separate requests that
        Triton's dynamic batcher groups into one model execution, so callers never wait
        for a batch of their own to fill. Raises InvalidImage or InferenceUnavailable.
        """
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        result = await self._call(
            self._client.infer(
                self._model,
                [tensor],
                outputs=[InferRequestedOutput(OUTPUT_NAME)],
                client_timeout=self._timeout_s,
            )
        )
        embedding = result.as_numpy(OUTPUT_NAME)
        if embedding is None or embedding.shape[0] != 1:
            raise InferenceUnavailable(f"model {self._model!r} returned no single embedding")
        return embedding[0].astype(np.float32, copy=False)

    async def is_ready(self) -> bool:
        """True when the server and the model accept requests; never raises."""
        try:
            return bool(
                await self._client.is_server_ready(client_timeout=self._timeout_s)
                and await self._client.is_model_ready(
                    self._model, client_timeout=self._timeout_s
                )
            )
        except InferenceServerException:
            return False

    async def batch_statistics(self) -> dict[int, int]:
        """Batch size -> number of model executions of that size since Triton started."""
        response = await self._call(
            self._client.get_inference_statistics(
                self._model, as_json=True, client_timeout=self._timeout_s
            )
        )
        counts: dict[int, int] = {}
        for model_stats in response.get("model_stats", []):
            for batch in model_stats.get("batch_stats", []):
                size = int(batch["batch_size"])
                counts[size] = counts.get(size, 0) + int(batch["compute_infer"]["count"])
        return counts

    async def close(self) -> None:
        """Close the gRPC channel."""
        await self._client.close()

    async def _call(self, awaitable):
        """Await a tritonclient call, translating its exceptions into ours."""
        try:
            return await awaitable
        except InferenceServerException as exc:
            raise translate_error(exc) from exc


def translate_error(exc: InferenceServerException) -> Exception:
    """InvalidImage for model.py's decode errors, InferenceUnavailable for the rest."""
    message = exc.message() or str(exc)
    position = message.find(INVALID_IMAGE_PREFIX)
    if position >= 0:
        return InvalidImage(message[position + len(INVALID_IMAGE_PREFIX):].strip())
    status = exc.status() or "unknown status"
    return InferenceUnavailable(f"{status}: {message}")
