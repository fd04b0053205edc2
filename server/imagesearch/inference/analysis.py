"""One call per inserted image to Triton's `image_analysis` pipeline (asyncio).

The pipeline decodes the image once and returns, as asked, the image model's vectors, the
NSFW score and the duplicate fingerprint's thumbnail and pHash, so the API server does not
decode the image at all (model_repository/image_analysis/1/model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tritonclient.grpc.aio import InferInput, InferRequestedOutput

from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.triton_client import (
    INPUT_NAME,
    EncoderInfo,
    TritonModelClient,
    _identity,
)

ANALYSIS_MODEL = "image_analysis"
NSFW_OUTPUT = "NSFW_SCORE"
THUMBNAIL_OUTPUT = "THUMBNAIL"
PHASH_OUTPUT = "PHASH"


@dataclass(frozen=True)
class AnalysisRequest:
    """What to compute for one image: the vector outputs by name, the NSFW score, the
    fingerprint's parts. Faces and OCR are not part of the pipeline yet: they decode at
    their own resolutions in their own models (docs/architecture.md)."""

    vector_outputs: tuple[str, ...]
    nsfw: bool = False
    fingerprint: bool = True


@dataclass(frozen=True)
class FingerprintParts:
    """The fingerprint's decoded parts (dedup/fingerprint.py adds the bytes' SHA-256)."""

    thumb: np.ndarray  # 128x128 uint8 grey
    phash: int  # 64-bit DCT perceptual hash


@dataclass(frozen=True)
class ImageAnalysisResult:
    """What the pipeline made of one image; a field is None when it was not asked for."""

    vectors: dict[str, np.ndarray]  # by output name
    nsfw_score: float | None
    fingerprint: FingerprintParts | None


class ImageAnalyser(TritonModelClient):
    """Client of the `image_analysis` model: encoded bytes -> everything an insert needs."""

    def __init__(self, url: str, model: str = ANALYSIS_MODEL, timeout_s: float = 30.0) -> None:
        super().__init__(url, model, timeout_s)

    async def info(self, identity: str, output: str) -> EncoderInfo:
        """Identity of one vector output, to check against the image model's (ImageEncoder.info)."""
        return await _identity(self._client, self._model, identity, output, self._timeout_s)

    async def analyse(self, image: bytes, want: AnalysisRequest) -> ImageAnalysisResult:
        """One request; Triton's batcher groups concurrent callers. Raises InvalidImage
        (a bad image fails only its own request) or InferenceUnavailable."""
        outputs = list(want.vector_outputs)
        if want.nsfw:
            outputs.append(NSFW_OUTPUT)
        if want.fingerprint:
            outputs += [THUMBNAIL_OUTPUT, PHASH_OUTPUT]
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        result = await self._call(
            self._client.infer(
                self._model, [tensor], outputs=[InferRequestedOutput(o) for o in outputs],
                client_timeout=self._timeout_s,
            )
        )
        rows = {name: self._row(result, name) for name in outputs}
        parts = None
        if want.fingerprint:
            parts = FingerprintParts(thumb=rows[THUMBNAIL_OUTPUT], phash=int(rows[PHASH_OUTPUT][0]))
        return ImageAnalysisResult(
            vectors={name: rows[name].astype(np.float32, copy=False) for name in want.vector_outputs},
            nsfw_score=float(rows[NSFW_OUTPUT][0]) if want.nsfw else None,
            fingerprint=parts,
        )

    def _row(self, result, name: str) -> np.ndarray:
        array = result.as_numpy(name)
        if array is None or array.shape[0] != 1:
            raise InferenceUnavailable(f"model {self._model!r} returned no single {name}")
        return array[0]
