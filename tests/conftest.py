"""Shared fixtures: real server processes, real Triton, real photos from ../shared/datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagesearch.launcher import api_server as launcher
from imagesearch.launcher.triton import free_port  # noqa: F401 - re-exported for the tests
from imagesearch_client import ImageSearchClient

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
COREL = DATASETS / "corel1k"


def corel_path(index: int) -> Path:
    """Path of Corel-1K image `index` (its class is index // 100)."""
    return COREL / f"{index}.jpg"


class ServerProcess(launcher.ServerProcess):
    """The shared launcher, plus a client of the server for the tests."""

    def client(self, timeout: float = 60) -> ImageSearchClient:
        return ImageSearchClient(self.address, timeout=timeout)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One full server for the session: local Triton + embedded Qdrant, as `make serve` runs it."""
    proc = ServerProcess(tmp_path_factory.mktemp("server")).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess):
    with server.client() as c:
        yield c
