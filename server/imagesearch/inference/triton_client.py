"""Embedding images and text through Triton's models over gRPC (asyncio)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tritonclient.grpc.aio import (
    InferenceServerClient,
    InferInput,
    InferRequestedOutput,
)
from tritonclient.utils import InferenceServerException

from imagesearch.inference.channel import triton_channel_args
from imagesearch.inference.errors import InferenceUnavailable, InvalidImage

INPUT_NAME = "IMAGE"
TEXT_INPUT_NAME = "TEXT"
OUTPUT_NAME = "EMBEDDING"
# model.py prefixes decode failures with this; everything after it is the reason.
INVALID_IMAGE_PREFIX = "invalid image:"


@dataclass(frozen=True)
class EncoderInfo:
    """The embedding model behind the encoder, as collections record it."""

    name: str
    version: str
    dimension: int


class TritonModelClient:
    """What every client of one Triton model shares: the channel, readiness, closing."""

    def __init__(self, url: str, model: str, timeout_s: float = 30.0) -> None:
        self._model = model
        self._timeout_s = timeout_s
        # Round robin over every Triton a dns:/// (headless Service) target resolves to.
        self._client = InferenceServerClient(url, channel_args=triton_channel_args(url))

    async def is_ready(self) -> bool:
        """True when the server and the model accept requests; never raises."""
        try:
            return bool(
                await self._client.is_server_ready(client_timeout=self._timeout_s)
                and await self._client.is_model_ready(self._model, client_timeout=self._timeout_s)
            )
        except InferenceServerException:
            return False

    async def close(self) -> None:
        """Close the gRPC channel."""
        await self._client.close()

    async def _call(self, awaitable):
        """Await a tritonclient call, translating its exceptions into ours."""
        try:
            return await awaitable
        except InferenceServerException as exc:
            raise translate_error(exc) from exc


class ImageEncoder(TritonModelClient):
    """Client of one Triton model that maps encoded image bytes to unit vectors."""

    def __init__(self, url: str, model: str = "image_embedding", timeout_s: float = 30.0) -> None:
        super().__init__(url, model, timeout_s)

    async def info(self, identity: str = "embedding", output: str = OUTPUT_NAME) -> EncoderInfo:
        """Name and version (config.pbtxt parameters `<identity>_model_name` and
        `<identity>_model_version`) and dimension (dims of `output`) of one output's vectors."""
        return await _identity(self._client, self._model, identity, output, self._timeout_s)

    async def embed(self, image: bytes) -> np.ndarray:
        """Return the float32 unit-length EMBEDDING of one encoded image.

        One image per request on purpose: concurrent calls become separate requests that
        Triton's dynamic batcher groups into one model execution, so callers never wait
        for a batch of their own to fill. Raises InvalidImage or InferenceUnavailable.
        """
        return (await self.embed_outputs(image, (OUTPUT_NAME,)))[OUTPUT_NAME]

    async def embed_outputs(self, image: bytes, outputs: Sequence[str]) -> dict[str, np.ndarray]:
        """The named outputs (unit vectors) of one encoded image, from one model run."""
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        return await _infer_single(self._client, self._model, tensor, outputs, self._timeout_s)

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


class TextEncoder(TritonModelClient):
    """Client of one Triton model that maps UTF-8 text to unit vectors (tokenising inside)."""

    async def info(self, identity: str, output: str = OUTPUT_NAME) -> EncoderInfo:
        """Identity of the model's `output` vectors (see ImageEncoder.info)."""
        return await _identity(self._client, self._model, identity, output, self._timeout_s)

    async def embed(self, text: str, output: str = OUTPUT_NAME) -> np.ndarray:
        """The float32 unit-length embedding of one text; one text per request (see ImageEncoder.embed)."""
        tensor = InferInput(TEXT_INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[text.encode("utf-8")]], dtype=np.object_))
        return (await _infer_single(self._client, self._model, tensor, (output,), self._timeout_s))[output]


async def _identity(
    client: InferenceServerClient, model: str, identity: str, output: str, timeout_s: float
) -> EncoderInfo:
    """Read `<identity>_model_name/_version` and the dims of `output` from a model's config."""
    try:
        response = await client.get_model_config(model, as_json=True, client_timeout=timeout_s)
    except InferenceServerException as exc:
        raise translate_error(exc) from exc
    config = response["config"]
    try:
        parameters = {k: v["string_value"] for k, v in config["parameters"].items()}
        (spec,) = [o for o in config["output"] if o["name"] == output]
        return EncoderInfo(
            name=parameters[f"{identity}_model_name"],
            version=parameters[f"{identity}_model_version"],
            dimension=int(spec["dims"][-1]),
        )
    except (KeyError, ValueError) as exc:
        # A model repository that does not match this client: a deployment error.
        raise InferenceUnavailable(
            f"model {model!r} config lacks {output} or the {identity}_model_* parameters ({exc!r})"
        ) from exc


async def _infer_single(
    client: InferenceServerClient, model: str, tensor: InferInput, outputs: Sequence[str], timeout_s: float
) -> dict[str, np.ndarray]:
    """Run one single-item request and return each requested output's one row."""
    try:
        result = await client.infer(
            model,
            [tensor],
            outputs=[InferRequestedOutput(name) for name in outputs],
            client_timeout=timeout_s,
        )
    except InferenceServerException as exc:
        raise translate_error(exc) from exc
    rows: dict[str, np.ndarray] = {}
    for name in outputs:
        array = result.as_numpy(name)
        if array is None or array.shape[0] != 1:
            raise InferenceUnavailable(f"model {model!r} returned no single {name}")
        rows[name] = array[0].astype(np.float32, copy=False)
    return rows


def translate_error(exc: InferenceServerException) -> Exception:
    """InvalidImage for model.py's decode errors, InferenceUnavailable for the rest."""
    message = exc.message() or str(exc)
    position = message.find(INVALID_IMAGE_PREFIX)
    if position >= 0:
        return InvalidImage(message[position + len(INVALID_IMAGE_PREFIX):].strip())
    status = exc.status() or "unknown status"
    return InferenceUnavailable(f"{status}: {message}")
