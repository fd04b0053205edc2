"""The in-process reference encoder: the Triton model's own preprocessing and ONNX file,
run directly with ONNX Runtime, with no server, queue or network in between.

The preprocessing module is loaded by file path from the model repository, so the
baseline decodes and resizes exactly as model.py does (model.py itself imports Triton's
backend utilities and cannot be loaded outside Triton).
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Sequence

import numpy as np
import onnxruntime as ort

from bench.common import REPO_ROOT
from imagesearch.models.setup import ensure_model_repository

MODEL_DIR = REPO_ROOT / "model_repository" / "image_embedding"
VERSION_DIR = MODEL_DIR / "1"
ONNX_INPUT = "pixels"
ONNX_OUTPUT = "embedding"


def load_preprocessing() -> ModuleType:
    """model_repository/image_embedding/1/preprocessing.py as a module."""
    path = VERSION_DIR / "preprocessing.py"
    spec = importlib.util.spec_from_file_location("image_embedding_preprocessing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_parameters(config_path: Path = MODEL_DIR / "config.pbtxt") -> dict[str, str]:
    """The `parameters` of config.pbtxt (thread count, pixel limit) as strings."""
    text = config_path.read_text()
    pairs = re.findall(r'key:\s*"([^"]+)"\s*value:\s*\{\s*string_value:\s*"([^"]*)"', text)
    return dict(pairs)


class InProcessEncoder:
    """Bytes -> unit embeddings with the Triton model's preprocessing and session options."""

    def __init__(self) -> None:
        self._pre = load_preprocessing()
        parameters = model_parameters()
        self._max_pixels = int(parameters["max_image_pixels"])
        # The same session options model.py applies, from the same config.pbtxt values,
        # so the baseline gets exactly the threads the served model gets.
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters["intra_op_threads"])
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # model.py turns spinning off (it would steal the cores the API server shares).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # A fresh checkout (CI) has no ONNX file yet: export it as the server would at start.
        ensure_model_repository(MODEL_DIR.parent)
        onnx_path = VERSION_DIR / "model.onnx"
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def encode(self, images: Sequence[bytes]) -> np.ndarray:
        """Decode, resize and embed `images` in one ONNX run: an (n, dimension) array."""
        pixels = np.stack([self._pre.to_pixels(self._pre.decode_rgb(data, self._max_pixels)) for data in images])
        (embeddings,) = self._session.run([ONNX_OUTPUT], {ONNX_INPUT: pixels})
        return embeddings

    def throughput(self, images: Sequence[bytes], batch_size: int) -> float:
        """Images per second over `images` in batches of `batch_size`, decode included."""
        started = time.perf_counter()
        for start in range(0, len(images), batch_size):
            self.encode(images[start : start + batch_size])
        return len(images) / (time.perf_counter() - started)

    def batch_sweep(self, images: Sequence[bytes], candidates: Sequence[int], rounds: int = 3) -> dict[int, float]:
        """Median images/s of each candidate batch size on `images`.

        Candidates alternate within each round, so a burst of load from a neighbour on
        the shared machine lands on all of them rather than on one.
        """
        self.encode(images[: max(candidates)])  # warm-up: first runs allocate buffers
        rates: dict[int, list[float]] = {size: [] for size in candidates}
        for _ in range(rounds):
            for size in candidates:
                rates[size].append(self.throughput(images, size))
        return {size: float(np.median(values)) for size, values in rates.items()}

    def decode_share(self, images: Sequence[bytes]) -> float:
        """Fraction of in-process encode time spent decoding and resizing (batch of all)."""
        started = time.perf_counter()
        pixels = np.stack([self._pre.to_pixels(self._pre.decode_rgb(data, self._max_pixels)) for data in images])
        decoded = time.perf_counter()
        self._session.run([ONNX_OUTPUT], {ONNX_INPUT: pixels})
        finished = time.perf_counter()
        return (decoded - started) / (finished - started)
