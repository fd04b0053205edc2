"""No secret reaches a child process: the real tritonserver and the real index-build child
are started, and their /proc/<pid>/environ read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import free_port
from imagesearch.child_env import is_secret_name, scrubbed_environment
from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess
from imagesearch.store.edge import EdgeStore
from imagesearch.store.indexer import BuildChild
from imagesearch.store.layout import CollectionPaths
from test_store_edge import MODEL_SET, NO_AUTO_BUILD, points, unit_vectors

SECRETS = {
    "IMAGESEARCH_QDRANT_API_KEY": "qdrant-key-5a1f",
    "IMAGESEARCH_QDRANT_API_KEY_FILE": "/run/secrets/qdrant-key-5a1f",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5a1f",
    "GITHUB_TOKEN": "gh-token-5a1f",
    "PGPASSWORD": "pg-password-5a1f",
}
KEPT = {"IMAGESEARCH_LOG_LEVEL": "DEBUG", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SECRETS, **KEPT}.items():
        monkeypatch.setenv(name, value)


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.decode().split("=", 1) for entry in raw.split(b"\0") if entry)


def assert_scrubbed(env: dict[str, str]) -> None:
    assert not set(SECRETS) & set(env)
    assert not any("5a1f" in value for value in env.values())
    assert {name: env.get(name) for name in KEPT} == KEPT  # not an empty environment
    assert env.get("PATH")


def test_names_that_are_secrets() -> None:
    assert all(is_secret_name(name) for name in SECRETS)
    assert not any(is_secret_name(name) for name in (*KEPT, "PATH", "HOME", "LD_LIBRARY_PATH", "PWD", "KEYBOARD"))
    assert scrubbed_environment({"A_TOKEN": "x", "LANG": "C"}) == {"LANG": "C"}


async def triton_environ(tmp_path: Path) -> dict[str, str]:
    """The environment of a real tritonserver (no models), read while it runs."""
    repository = tmp_path / "models"
    repository.mkdir(exist_ok=True)
    triton = TritonProcess(
        TritonLaunchConfig(
            model_repository=repository,
            grpc_port=free_port(),
            http_port=free_port(),
            metrics_port=free_port(),
            work_dir=tmp_path / "triton",
            models=(),
        )
    )
    await triton.start()
    try:
        assert triton.pid is not None
        env = environ_of(triton.pid)
        if env:  # still running: it is the tritonserver binary we read
            assert os.path.basename(os.readlink(f"/proc/{triton.pid}/exe")) == "tritonserver"
        return env
    finally:
        await triton.stop()


async def test_tritonserver_gets_no_secrets(secret_env: None, tmp_path: Path) -> None:
    # A process that has already exited shows an empty environ (seen once on this shared
    # machine: a free port taken by another test between pick and bind makes Triton exit).
    for _ in range(3):
        env = await triton_environ(tmp_path)
        if env:
            break
    assert_scrubbed(env)
    assert env["LD_LIBRARY_PATH"]  # the stub's libpython directory is still handed over


async def test_index_build_child_gets_no_secrets(secret_env: None, tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    await store.create_collection("e", MODEL_SET)
    await store.upsert("e", points(unit_vectors(20, 60)))
    await store.close()
    paths = CollectionPaths(tmp_path / "collections" / "e")
    child = BuildChild(paths.shard, paths.journal)
    await child.start()
    try:
        assert child.pid is not None
        env = environ_of(child.pid)
    finally:
        await child.kill()
    assert_scrubbed(env)
    assert "server" in env["PYTHONPATH"]
