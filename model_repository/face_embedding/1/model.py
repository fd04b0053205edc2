"""Triton Python-backend model: encoded image bytes in; per face: box, detector score,
5 landmarks and the 128-d dlib ResNet embedding of its aligned chip out.

One image per request (each image has its own number of faces, and a response's tensors
are per request). Decoding is image_embedding's (preprocessing.py is a link to it: same
formats, limits, EXIF orientation and error messages); detection and embedding
(face_pipeline.py) take the decoded RGB image. Within one execute() every request is
detected first, then the chips of all faces of all requests go through the ResNet in one
call, so Triton's dynamic batcher batches the embedding stage across requests.
"""

from __future__ import annotations

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from face_pipeline import DetectedFace, DetectSettings, FaceModels, detect, embed_chips
from preprocessing import InvalidImage, decode_rgb_long_side

INPUT_NAME = "IMAGE"
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "


class TritonPythonModel:
    """One instance owns one set of dlib models; Triton calls execute() per batch."""

    def initialize(self, args: dict) -> None:
        """Load the dlib model files next to this file (copied by `imagesearch models setup`)."""
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._max_pixels = int(parameters["max_image_pixels"])
        self._settings = DetectSettings(
            detect_long_side=int(parameters["detect_long_side"]),
            max_upscale=float(parameters["max_upscale"]),
            min_score=float(parameters["min_detector_score"]),
            trust_score=float(parameters["trust_detector_score"]),
            max_faces=int(parameters["max_faces"]),
        )
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        try:
            self._models = FaceModels(version_dir)
        except FileNotFoundError as exc:
            raise pb_utils.TritonModelException(str(exc)) from None

    def execute(self, requests: list) -> list:
        """Detect in every request's image, then embed all faces of the batch in one call."""
        found: list[tuple[list[DetectedFace], float, tuple[int, int]] | str] = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy().reshape(-1)
            if images.size != 1:
                found.append(f"send one image per request, not {images.size}")
                continue
            try:
                decoded = decode_rgb_long_side(bytes(images[0]), self._max_pixels, self._settings.detect_long_side)
            except InvalidImage as exc:
                found.append(str(exc))
                continue
            # Draft decoding may have shrunk a JPEG: positions go back to the original's pixels.
            to_original = decoded.original_size[0] / decoded.image.width
            found.append((detect(self._models, decoded.image, self._settings), to_original, decoded.original_size))

        chips = [face.chip for item in found if not isinstance(item, str) for face in item[0]]
        embeddings = embed_chips(self._models, chips)

        responses = []
        start = 0
        for item in found:
            if isinstance(item, str):
                error = pb_utils.TritonError(INVALID_PREFIX + item)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            faces, to_original, size = item
            responses.append(_response(faces, to_original, size, embeddings[start : start + len(faces)]))
            start += len(faces)
        return responses

    def finalize(self) -> None:
        """Drop the dlib models before the stub exits."""
        self._models = None


def _response(faces: list[DetectedFace], to_original: float, size: tuple[int, int], embeddings: np.ndarray):
    """One request's tensors, each with the leading batch dimension of 1."""
    boxes = np.array([face.box for face in faces], np.float32).reshape(-1, 4) * to_original
    landmarks = np.array([face.landmarks for face in faces], np.float32).reshape(-1, 5, 2) * to_original
    scores = np.array([face.score for face in faces], np.float32).reshape(-1)
    return pb_utils.InferenceResponse(
        output_tensors=[
            pb_utils.Tensor("IMAGE_SIZE", np.array([size], np.int32)),
            pb_utils.Tensor("BOXES", boxes[None]),
            pb_utils.Tensor("SCORES", scores[None]),
            pb_utils.Tensor("LANDMARKS", landmarks[None]),
            pb_utils.Tensor("EMBEDDINGS", embeddings.astype(np.float32).reshape(1, -1, 128)),
        ]
    )
