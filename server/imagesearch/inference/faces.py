"""Faces through Triton's `face_embedding` model (dlib) over gRPC (asyncio).

The server process never imports dlib: only the model's Triton stub does.
"""

from __future__ import annotations

import math
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

FACE_MODEL = "face_embedding"
FACE_IDENTITY = "face"
OUTPUTS = ("IMAGE_SIZE", "BOXES", "SCORES", "LANDMARKS", "EMBEDDINGS")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class DetectedFace:
    """One face: box (left, top, right, bottom) and landmarks (x, y) in the upright
    image's pixels, the detector's score, and the 128-d dlib descriptor (not unit length).

    detector_score is HOG's SVM margin (>= 0; faces below 1.0 were also confirmed by dlib's
    CNN detector); `confidence` maps it onto 0..1 for an API: 0.5 at the detection
    threshold, 0.73 at the CNN-free 1.0, rising towards 1. It is monotone, not a probability.
    """

    box: Box
    detector_score: float
    landmarks: tuple[tuple[float, float], ...]
    embedding: np.ndarray

    @property
    def confidence(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.detector_score))


@dataclass(frozen=True)
class FaceDetection:
    """Every face of one image, best detector score first, and the upright image's size."""

    width: int
    height: int
    faces: tuple[DetectedFace, ...]


class FaceDetector(TritonModelClient):
    """Client of the `face_embedding` model: encoded image bytes -> faces."""

    def __init__(self, url: str, model: str = FACE_MODEL, timeout_s: float = 30.0) -> None:
        super().__init__(url, model, timeout_s)

    async def info(self) -> EncoderInfo:
        """The face model's name, version (config parameters face_model_*) and dimension (128)."""
        return await _identity(self._client, self._model, FACE_IDENTITY, "EMBEDDINGS", self._timeout_s)

    async def detect(self, image: bytes) -> FaceDetection:
        """Faces of one encoded image (none is an answer, not an error); one image per
        request, so Triton batches concurrent callers. Raises InvalidImage or InferenceUnavailable."""
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        result = await self._call(
            self._client.infer(
                self._model,
                [tensor],
                outputs=[InferRequestedOutput(name) for name in OUTPUTS],
                client_timeout=self._timeout_s,
            )
        )
        arrays = {name: result.as_numpy(name) for name in OUTPUTS}
        if any(array is None for array in arrays.values()):
            raise InferenceUnavailable(f"model {self._model!r} did not return {', '.join(OUTPUTS)}")
        return _detection(arrays)


def _detection(arrays: dict[str, np.ndarray]) -> FaceDetection:
    """The response's tensors (leading batch dimension 1) as typed faces."""
    width, height = (int(v) for v in arrays["IMAGE_SIZE"].reshape(-1)[:2])
    boxes = arrays["BOXES"].reshape(-1, 4)
    scores = arrays["SCORES"].reshape(-1)
    landmarks = arrays["LANDMARKS"].reshape(-1, 5, 2)
    embeddings = arrays["EMBEDDINGS"].reshape(-1, 128).astype(np.float32)
    if not len(boxes) == len(scores) == len(landmarks) == len(embeddings):
        raise InferenceUnavailable("face model returned outputs of different lengths")
    faces = tuple(
        DetectedFace(
            box=tuple(float(v) for v in boxes[i]),
            detector_score=float(scores[i]),
            landmarks=tuple((float(x), float(y)) for x, y in landmarks[i]),
            embedding=embeddings[i],
        )
        for i in range(len(boxes))
    )
    return FaceDetection(width, height, faces)
