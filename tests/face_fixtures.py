"""Synthetic faces for store-level tests: real engine, embeddings drawn around per-person centres."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from imagesearch.faces.manager import FaceManager, FaceSettings
from imagesearch.inference.faces import DetectedFace, FaceDetection
from imagesearch.inference.triton_client import EncoderInfo
from imagesearch.store.faces import FaceStore, open_face_vectors
from imagesearch.store.people_file import PeopleFiles

DLIB_MODEL = EncoderInfo("dlib-resnet-v1-5point-chip150", "1", 128)


class ModelInfoOnly:
    """Answers info() like the face model; these tests pass detections in directly, and
    detection itself is tested against the real model (test_face_inference.py)."""

    async def info(self) -> EncoderInfo:
        return DLIB_MODEL

    async def detect(self, image: bytes) -> FaceDetection:
        raise AssertionError("store-level tests never detect")


def centres(people: int, seed: int = 0) -> np.ndarray:
    """Person centres ~1.4 apart with norms ~1.4, like dlib's descriptors."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(people, 128))
    return raw / np.linalg.norm(raw, axis=1, keepdims=True) * 1.4


def photo(*embeddings: np.ndarray) -> FaceDetection:
    """A detection of one face per embedding, side by side."""
    faces = tuple(
        DetectedFace((100.0 * i, 0.0, 100.0 * i + 80, 80.0), 1.5, ((10.0, 10.0),) * 5, np.asarray(e, np.float32))
        for i, e in enumerate(embeddings)
    )
    return FaceDetection(100 * max(len(embeddings), 1), 100, faces)


def near(centre: np.ndarray, seed: int, spread: float = 0.02) -> np.ndarray:
    """A face of the person at `centre` (distance ~ spread * sqrt(128) ~ 0.23 from it)."""
    return centre + np.random.default_rng(seed).normal(scale=spread, size=128)


def open_manager(data_dir: Path, settings: FaceSettings = FaceSettings(min_faces_listed=1, recluster_every=0),
                 detector=None) -> FaceManager:
    store = FaceStore(open_face_vectors(data_dir, index_threshold=0))
    return FaceManager(store, PeopleFiles(data_dir), detector or ModelInfoOnly(), settings)


class DetectionTable:
    """A face detector for handler tests: each image (by its bytes) has the detection the
    test gave it; any other image has no face. Detection itself is tested against the real
    model (test_face_inference.py)."""

    def __init__(self) -> None:
        self.by_image: dict[bytes, FaceDetection] = {}

    async def info(self) -> EncoderInfo:
        return DLIB_MODEL

    async def detect(self, image: bytes) -> FaceDetection:
        return self.by_image.get(hashlib.sha256(image).digest(), FaceDetection(100, 100, ()))

    def show(self, image: bytes, detection: FaceDetection) -> None:
        self.by_image[hashlib.sha256(image).digest()] = detection

    async def close(self) -> None:
        pass
