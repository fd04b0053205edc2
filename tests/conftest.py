"""Shared fixtures: real server processes, real Triton, real photos from ../shared/datasets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from imagesearch.launcher import api_server as launcher
from imagesearch.launcher.triton import free_port  # noqa: F401 - re-exported for the tests
from imagesearch_client import ImageSearchClient, ImportOutcome, InsertItem

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
COREL = DATASETS / "corel1k"
COREL_COLLECTION = "corel"
COREL_SIZE = 1000


def corel_path(index: int) -> Path:
    """Path of Corel-1K image `index` (its class is index // 100)."""
    return COREL / f"{index}.jpg"


class ServerProcess(launcher.ServerProcess):
    """The shared launcher, plus a client of the server for the tests."""

    def client(self, timeout: float = 60) -> ImageSearchClient:
        return ImageSearchClient(self.address, timeout=timeout)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One full server for the session: local Triton + embedded Qdrant, as `make serve` runs it.

    "localhost" is allow-listed for image_url so tests can serve images from a local HTTP
    server (by that name; 127.0.0.1 stays refused), with a short fetch deadline.
    """
    proc = ServerProcess(
        tmp_path_factory.mktemp("server"), extra_args=["--url-allow-hosts", "localhost", "--url-timeout-s", "3"]
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess):
    with server.client() as c:
        yield c


def corel_items(indices) -> list[InsertItem]:
    """Corel photos as insert items: id corel-<index>, metadata class and file name."""
    return [
        InsertItem(image=corel_path(i).read_bytes(), id=f"corel-{i}", metadata={"class": i // 100, "file": f"{i}.jpg"})
        for i in indices
    ]


@dataclass(frozen=True)
class CorelIngest:
    """The session's collection of all 1,000 Corel originals, and how each insert went."""

    name: str
    outcomes: list[ImportOutcome]


@pytest.fixture(scope="session")
def corel_collection(client: ImageSearchClient) -> CorelIngest:
    """All of Corel-1K in collection "corel", ingested once for every test that reads it."""
    client.create_collection(COREL_COLLECTION)
    outcomes = sorted(client.import_items(COREL_COLLECTION, corel_items(range(COREL_SIZE)), timeout=900),
                      key=lambda o: o.index)
    failed = [o for o in outcomes if not o.ok]
    assert not failed, failed[:5]
    assert [o.index for o in outcomes] == list(range(COREL_SIZE))
    return CorelIngest(COREL_COLLECTION, outcomes)


OCR_DATASET = DATASETS / "ocr"


@pytest.fixture(scope="session")
async def ocr_triton(tmp_path_factory: pytest.TempPathFactory):
    """A tritonserver serving only the `ocr` model, shared by the OCR tests of the session."""
    from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess
    from imagesearch.models.setup import ensure_model_repository

    repository = REPO_ROOT / "model_repository"
    ensure_model_repository(repository)
    config = TritonLaunchConfig(
        model_repository=repository,
        grpc_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        work_dir=tmp_path_factory.mktemp("ocr-triton"),
        models=("ocr",),
    )
    process = TritonProcess(config)
    await process.start()
    try:
        await process.wait_ready(180)
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="session")
async def ocr_reader(ocr_triton):
    """The OcrReader client of the session's OCR Triton."""
    from imagesearch.inference.ocr import OcrReader

    reader = OcrReader(ocr_triton.url)
    yield reader
    await reader.close()
