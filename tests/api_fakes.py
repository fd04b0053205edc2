"""Fakes for fast handler tests: encoders that need no Triton, a fetcher that needs no
network, and an in-process gRPC server around the real handlers and the real embedded
store (in a temporary folder: it costs milliseconds, so no fake store is needed).

The encoders are deterministic stand-ins, not models: an image's vector is its 16x16
thumbnail, a text's vector a hash of its words. Handler rules (names, pages, masks,
errors) do not depend on what the vectors mean; search quality is tested end to end.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from PIL import Image

from imagesearch.auth.audit import AuditLog
from imagesearch.auth.interceptor import AuthInterceptor
from imagesearch.auth.keys import KeyStore
from imagesearch.api.admin_service import add_admin_service
from imagesearch.auth.quotas import Quotas
from imagesearch.api.service import ImageSearchService, ServiceLimits
from imagesearch.fetch.fetcher import FetchFailed
from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.models.model_sets import MODEL_SETS, ModelSetSpec
from imagesearch.store.base import ModelRecord, ModelSetRecord, SpaceRecord
from imagesearch.store.edge import EdgeStore

DIMENSION = 64


def image_vector(image: bytes) -> np.ndarray:
    """A unit vector from the image's pixels (similar images, similar vectors)."""
    with Image.open(io.BytesIO(image)) as img:
        pixels = np.asarray(img.convert("L").resize((8, 8)), dtype=np.float32).ravel()
    vector = pixels - pixels.mean() + 1e-3
    return vector / np.linalg.norm(vector)


def text_vector(text: str) -> np.ndarray:
    """A unit vector from the text's words."""
    vector = np.zeros(DIMENSION, dtype=np.float32)
    for word in text.lower().split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


@dataclass
class FakeImageEncoder:
    """Stands in for inference.triton_client.ImageEncoder; `unavailable` and `broken`
    make it fail as a stopped Triton and as a bug would."""

    unavailable: bool = False
    broken: bool = False

    async def embed_outputs(self, image: bytes, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        if self.unavailable:
            raise InferenceUnavailable("fake: the image model is down")
        if self.broken:
            raise RuntimeError("fake: a bug in the encoder client")
        vector = image_vector(image)
        return {output: vector for output in outputs}

    async def is_ready(self) -> bool:
        return not self.unavailable

    async def close(self) -> None:
        pass


class FakeTextEncoder:
    """Stands in for inference.triton_client.TextEncoder."""

    async def embed(self, text: str, output: str) -> np.ndarray:
        return text_vector(text)

    async def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


class FakeNsfw:
    """Stands in for inference.nsfw.NsfwScorer: red images are "unsafe"."""

    async def score(self, image: bytes) -> float:
        with Image.open(io.BytesIO(image)) as img:
            r, g, b = np.asarray(img.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
        return float(min(max((r - (g + b) / 2) / 128.0, 0.0), 1.0))


@dataclass
class FakeFetcher:
    """Stands in for fetch.fetcher.UrlFetcher: URL -> bytes or an exception to raise."""

    responses: dict[str, bytes | Exception] = field(default_factory=dict)

    async def fetch(self, url: str) -> bytes:
        answer = self.responses.get(url, FetchFailed(f"fake: nothing at {url}"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def served_offline(image_encoder: FakeImageEncoder) -> ServedModelSet:
    """The offline set's spaces over fake encoders, at DIMENSION-d (image space: 64-d)."""
    return served(MODEL_SETS["offline"], image_encoder)


def served(spec: ModelSetSpec, image_encoder: FakeImageEncoder) -> ServedModelSet:
    """A model set's spaces over fake encoders, at DIMENSION-d."""
    record = ModelSetRecord(
        spec.name, tuple(SpaceRecord(s.name, ModelRecord(f"fake-{s.name}", "1", DIMENSION)) for s in spec.spaces)
    )
    texts = {name: FakeTextEncoder() for name in spec.triton_models if name != spec.image_model}
    return ServedModelSet(spec, record, image_encoder, texts)


@dataclass
class FakeServer:
    """The real handlers and embedded store over fakes, on a loopback port."""

    server: grpc.aio.Server
    store: EdgeStore
    address: str
    image_encoder: FakeImageEncoder
    fetcher: FakeFetcher
    service: ImageSearchService | None = None  # the servicer, for tests that look inside

    async def stop(self) -> None:
        await self.server.stop(None)
        await self.store.close()


async def start_fake_server(
    data_dir: Path, insert_concurrency: int = 4, extra_sets: tuple[ModelSetSpec, ...] = (),
    keys: KeyStore | None = None, quotas: Quotas | None = None, audit: AuditLog | None = None,
    max_collections: int = 0, faces=None,
) -> FakeServer:
    """`keys`: enforce API keys with the real interceptor (as the server does when its key
    file holds keys); `quotas`, `audit`: that interceptor's quotas and audit log (without
    `keys`, over an empty key store); `max_collections`: 0, no cap."""
    store = EdgeStore(data_dir)
    encoder, fetcher = FakeImageEncoder(), FakeFetcher()
    model_sets = {"offline": served_offline(encoder), **{spec.name: served(spec, encoder) for spec in extra_sets}}
    service = ImageSearchService(
        store=store,
        model_sets=model_sets,
        default_model_set="offline",
        limits=ServiceLimits(max_image_pixels=40_000_000, insert_concurrency=insert_concurrency,
                             max_collections=max_collections),
        fetcher=fetcher,
        nsfw=FakeNsfw(),
        faces=faces,  # a FaceManager (tests/face_fixtures.py: open_manager), or None: no face model
    )
    if keys is None and (quotas is not None or audit is not None):
        keys = KeyStore(data_dir / "no-keys.json")  # no file: keys not enforced
    server = grpc.aio.server(interceptors=[AuthInterceptor(keys, quotas, audit)] if keys is not None else None)
    pb_grpc.add_ImageSearchServiceServicer_to_server(service, server)
    add_admin_service(service.ctx, keys if keys is not None else KeyStore(data_dir / "api_keys.json"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return FakeServer(server, store, f"127.0.0.1:{port}", encoder, fetcher, service)
