"""Triton Python-backend model: encoded image bytes in, L2-normalised CLIP embedding out.

The ONNX graph (1/model.onnx) and config.pbtxt are written by `imagesearch models
export-clip`; the image size, normalisation, resize mode and interpolation come from
the checkpoint, via config parameters. Decoding is image_embedding's (preprocessing.py is a link to it), so the
same formats, limits and error messages apply.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from preprocessing import InvalidImage, decode_rgb, to_clip_pixels

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "EMBEDDING"
ONNX_INPUT = "pixels"
ONNX_OUTPUT = "embedding"
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "


class TritonPythonModel:
    """One instance owns one ONNX Runtime session; Triton calls execute() per batch."""

    def initialize(self, args: dict) -> None:
        """Open the ONNX model with the preprocessing parameters from config.pbtxt."""
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._max_pixels = int(parameters["max_image_pixels"])
        self._size = int(parameters["image_size"])
        self._mean = tuple(float(v) for v in parameters["pixel_mean"].split())
        self._std = tuple(float(v) for v in parameters["pixel_std"].split())
        # Exports made before OpenCLIP support lack these two: CLIP's own defaults.
        self._resize_mode = parameters.get("resize_mode", "shortest")
        self._interpolation = parameters.get("interpolation", "bicubic")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters["intra_op_threads"])
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        onnx_path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        if not os.path.exists(onnx_path):
            raise pb_utils.TritonModelException(
                f"{onnx_path} is missing: run `imagesearch models export-clip CHECKPOINT`"
            )
        self._session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:
        """Embed every decodable image of the batch in one ONNX run (see image_embedding)."""
        pixels: list[np.ndarray] = []
        slots: list[slice | str] = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy()
            try:
                decoded = [
                    to_clip_pixels(
                        decode_rgb(bytes(item), self._max_pixels), self._size, self._mean, self._std,
                        self._resize_mode, self._interpolation,
                    )
                    for item in images.reshape(-1)
                ]
            except InvalidImage as exc:
                slots.append(str(exc))
                continue
            slots.append(slice(len(pixels), len(pixels) + len(decoded)))
            pixels.extend(decoded)

        embeddings = np.empty((0, 0), np.float32)
        if pixels:
            (embeddings,) = self._session.run([ONNX_OUTPUT], {ONNX_INPUT: np.stack(pixels)})

        responses = []
        for slot in slots:
            if isinstance(slot, str):
                error = pb_utils.TritonError(INVALID_PREFIX + slot)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            else:
                tensor = pb_utils.Tensor(OUTPUT_NAME, embeddings[slot].astype(np.float32))
                responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses

    def finalize(self) -> None:
        """Release the ONNX Runtime session before the stub exits."""
        self._session = None
