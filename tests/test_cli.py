"""The `imagesearch` command against the running server, as a person would use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, ServerProcess, corel_path


def cli(*args: str, server: ServerProcess | None = None) -> subprocess.CompletedProcess:
    extra = ["--server", server.address] if server else []
    return subprocess.run(
        [sys.executable, "-m", "imagesearch.cli", *args, *extra], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )


def test_help_lists_commands() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("serve", "models", "collections", "index", "search"):
        assert command in out.stdout
    serve_help = cli("serve", "--help").stdout
    assert "--triton-url" in serve_help and "IMAGESEARCH_QDRANT_URL" in serve_help


def test_index_folder_and_search(tmp_path: Path, server: ServerProcess) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in (100, 101, 102, 900, 901):
        (folder / f"{i}.jpg").symlink_to(corel_path(i))
    (folder / "sub" / "903.jpg").symlink_to(corel_path(903))
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image suffix")

    out = cli("index", str(folder), "-c", "cli-photos", "--create", "--recursive", server=server)
    assert out.returncode == 1, out.stderr  # one file failed
    assert "indexed 6 of 7 images into cli-photos" in out.stdout
    assert "broken.jpg: INVALID_ARGUMENT" in out.stderr

    out = cli("search", str(corel_path(901)), "-c", "cli-photos", "-k", "3", "--json", server=server)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert hits[0]["id"] == "901.jpg" and hits[0]["metadata"] == {"path": "901.jpg"}
    assert len(hits) == 3 and [h["rank"] for h in hits] == [1, 2, 3]

    out = cli("search", "--text", "a plate of food", "-c", "cli-photos", "-k", "3", "--json", server=server)
    assert out.returncode == 0, out.stderr
    assert sorted(h["id"] for h in json.loads(out.stdout)) == ["900.jpg", "901.jpg", "sub/903.jpg"]

    listing = cli("collections", "list", server=server)
    assert listing.returncode == 0 and "cli-photos\t6 items\tmodel set offline" in listing.stdout


def test_cli_reports_errors_plainly(server: ServerProcess) -> None:
    out = cli("collections", "get", "does-not-exist", server=server)
    assert out.returncode == 2
    assert "NOT_FOUND" in out.stderr and "does-not-exist" in out.stderr
    out = cli("collections", "create", "cli-clip", "--model-set", "clip", server=server)
    assert out.returncode == 2 and "FAILED_PRECONDITION" in out.stderr and "export-clip" in out.stderr
