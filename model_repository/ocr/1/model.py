"""Triton Python-backend model: encoded image bytes in, the lines of text it shows out (JSON).

Decoding is one function (preprocessing.decode_rgb_array, shared with the other image
models, EXIF orientation applied there), the pipeline (ocr_pipeline.py) takes a decoded RGB
array: a later decode-once pipeline can feed it pixels directly. Each image's result is
one JSON string: {"lines": [{"text", "confidence", "box": [[x, y] x4]}]}, boxes in the
pixels of the upright (EXIF-rotated) image, clockwise from the text's top-left.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from ocr_pipeline import OcrPipeline, PipelineParams
from preprocessing import InvalidImage, decode_rgb_array

INPUT_NAME = "IMAGE"
OUTPUT_NAME = "LINES"
MODEL_FILES = ("det.onnx", "cls.onnx", "rec.onnx", "det2.onnx")
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "


def _session(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning threads would burn the cores the other models share between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class TritonPythonModel:
    """One pipeline (three ONNX Runtime sessions) per instance; images of a batch are read in turn."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._max_pixels = int(parameters["max_image_pixels"])
        threads = int(parameters["intra_op_threads"])
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        paths = [os.path.join(version_dir, name) for name in MODEL_FILES]
        for path in paths:
            if not os.path.exists(path):
                raise pb_utils.TritonModelException(f"{path} is missing: run `imagesearch models setup`")
        params = PipelineParams(
            det_min_side=int(parameters["det_min_side"]),
            gate_side=int(parameters["gate_side"]),
            gate_box_threshold=float(parameters["gate_box_threshold"]),
            gate_pixel_threshold=float(parameters["gate_pixel_threshold"]) if "gate_pixel_threshold" in parameters
            else None,
            coarse_side=int(parameters.get("coarse_side", "0")),
            gate_read=parameters.get("gate_read", "false").lower() == "true",
            min_confidence=float(parameters["min_confidence"]),
            retry_below=float(parameters["retry_below"]),
            rec_chunk=int(parameters["rec_chunk"]),
            read_alternatives=parameters.get("read_alternatives", "true").lower() == "true",
            tight_unclip=float(parameters.get("tight_unclip", "0")),
            tilt_angles=tuple(float(a) for a in parameters.get("tilt_angles", "20,-20").split(",") if a.strip()),
            tilt_side=int(parameters.get("tilt_side", "256")),
            enhance_side=int(parameters.get("enhance_side", "0")),
            enhance_clip=float(parameters.get("enhance_clip", "2.0")),
            det2_side=int(parameters.get("det2_side", "0")),
            extend_heights=float(parameters.get("extend_heights", "0")),
        )
        det, cls, rec, det2 = (_session(path, threads) for path in paths)
        self._pipeline = OcrPipeline(det, cls, rec, params, det2_session=det2)

    def execute(self, requests: list) -> list:
        """Read every image of every request; an undecodable image fails its own request only."""
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy().reshape(-1)
            try:
                results = [self._read(bytes(item)) for item in images]
            except InvalidImage as exc:
                error = pb_utils.TritonError(INVALID_PREFIX + str(exc))
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            output = np.array(results, dtype=np.object_).reshape(-1, 1)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(OUTPUT_NAME, output)]))
        return responses

    def _read(self, data: bytes) -> bytes:
        lines = self._pipeline.read(decode_rgb_array(data, self._max_pixels))
        payload = {
            "lines": [
                {"text": line.text, "confidence": round(line.confidence, 4),
                 "box": [[round(x, 1), round(y, 1)] for x, y in line.box]}
                for line in lines
            ]
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def finalize(self) -> None:
        """Release the ONNX Runtime sessions before the stub exits."""
        self._pipeline = None
