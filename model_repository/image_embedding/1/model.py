"""Triton Python-backend model: encoded image bytes in, two L2-normalised embeddings out.

EMBEDDING is the 1280-d image-similarity vector (pooled EfficientNet-Lite0 features);
TEXT_IMAGE_EMBEDDING is the 384-d text-image vector the bridge (bridge.py) makes from the
same network's ImageNet class probabilities. Both come from one network run; a client
asks for the output(s) it needs.

Decoding happens here, next to the network, so clients send compressed bytes (tens of
kilobytes) instead of 600 KB float tensors, and Triton's dynamic batcher can group
requests from many API connections into one ONNX Runtime call.
"""

from __future__ import annotations

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils

from bridge import text_image_vectors
from onnx_session import open_session, providers
from preprocessing import InvalidImage, decode_rgb, to_pixels

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "EMBEDDING"
TEXT_IMAGE_OUTPUT = "TEXT_IMAGE_EMBEDDING"
ONNX_INPUT = "pixels"
ONNX_OUTPUTS = ["embedding", "logits"]
CLASS_MATRIX_FILE = "class_text_embeddings.npy"
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "




class TritonPythonModel:
    """One instance owns one ONNX Runtime session; Triton calls execute() per batch."""

    def initialize(self, args: dict) -> None:
        """Open the ONNX model next to this file with the thread count from config.pbtxt."""
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._max_pixels = int(parameters["max_image_pixels"])
        self._bridge_top_k = int(parameters["bridge_top_k"])
        self._bridge_temperature = float(parameters["bridge_temperature"])

        version_dir = os.path.join(args["model_repository"], args["model_version"])
        onnx_path = os.path.join(version_dir, "model.onnx")
        matrix_path = os.path.join(version_dir, CLASS_MATRIX_FILE)
        for path in (onnx_path, matrix_path):
            if not os.path.exists(path):
                raise pb_utils.TritonModelException(
                    f"{path} is missing: run `imagesearch models setup` to export it"
                )
        self._class_matrix = np.load(matrix_path)
        self._session = open_session(onnx_path, int(parameters["intra_op_threads"]), providers(parameters, args))
        # On a CPU, ONNX Runtime's time per image grows with the batch (images/s in-process, 2
        # threads, Corel, load ~15: 39.8 at batch 1, 34.2 at 2, 34.9 at 4, 30.6 at 16; an earlier
        # pass 13.9 / 22.3 / 21.6 / 11.1 at load ~19), and Triton's busy time per image was
        # 1.1-1.5x higher with batches than without in both batching benchmarks of 2026-12-02:
        # so a batch still saves the backend's per-execution overhead (one call, one IPC round
        # trip) but runs the network one image at a time. A GPU gains from whole batches.
        self._network_batch = 0 if parameters.get("execution_provider", "cpu") != "cpu" else 1

    def execute(self, requests: list) -> list | None:
        """Answer a dynamic batch; a request whose image cannot be decoded gets an error
        response of its own, the other requests of the batch are unaffected.

        On a CPU each request is answered as soon as its own image is embedded, through its
        response sender (allowed for non-decoupled models; execute then returns None): with
        one response list per batch, the first request of a batch waited for the others'
        network runs, which is why batching lost at 4 closed-loop clients (on/off 0.81-0.94
        in three runs, docs/benchmarks.md). A GPU runs the whole batch at once and answers
        it together.
        """
        if not self._network_batch:
            return self._answer(requests)
        for request in requests:
            (response,) = self._answer([request])
            request.get_response_sender().send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None

    def _answer(self, requests: list) -> list:
        """One response per request, the batch's decodable images embedded together."""
        pixels: list[np.ndarray] = []
        # Per request: the slice of `pixels` it owns, or the reason it is invalid.
        slots: list[slice | str] = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy()
            try:
                decoded = [to_pixels(decode_rgb(bytes(item), self._max_pixels))
                           for item in images.reshape(-1)]
            except InvalidImage as exc:
                slots.append(str(exc))
                continue
            slots.append(slice(len(pixels), len(pixels) + len(decoded)))
            pixels.extend(decoded)

        embeddings = text_image = np.empty((0, 0), np.float32)
        if pixels:
            embeddings, logits = self._run(np.stack(pixels))
            text_image = text_image_vectors(
                logits, self._class_matrix, self._bridge_top_k, self._bridge_temperature
            )

        responses = []
        for slot in slots:
            if isinstance(slot, str):
                error = pb_utils.TritonError(INVALID_PREFIX + slot)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            else:
                tensors = [
                    pb_utils.Tensor(OUTPUT_NAME, embeddings[slot].astype(np.float32)),
                    pb_utils.Tensor(TEXT_IMAGE_OUTPUT, text_image[slot]),
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

    def _run(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's two outputs for `pixels`, in runs of `_network_batch` images (0: one run)."""
        step = self._network_batch or len(pixels)
        runs = [self._session.run(ONNX_OUTPUTS, {ONNX_INPUT: pixels[i : i + step]}) for i in range(0, len(pixels), step)]
        if len(runs) == 1:
            return runs[0][0], runs[0][1]
        return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])

    def finalize(self) -> None:
        """Release the ONNX Runtime session before the stub exits."""
        self._session = None
        self._class_matrix = None
