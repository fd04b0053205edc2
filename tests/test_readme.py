"""The README's examples run as written (against the test server's address)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.api import annotations_pb2

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch_client import ImageSearchClient, InsertItem

README_ADDRESS = "127.0.0.1:50051"
BIN = Path(sys.executable).parent


def readme_block(heading: str, level: str = "##", language: str = "bash") -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(f"{level} {heading}\n", 1)[1].split(f"\n{level} ", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under '{level} {heading}'"
    return match.group(1)


def run_bash(block: str, server: ServerProcess, cwd: Path) -> subprocess.CompletedProcess:
    """A README bash block under `set -euo pipefail`, with the venv's commands first on PATH."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "IMAGESEARCH_SERVER": server.address}
    script = "set -euo pipefail\n" + block.replace(README_ADDRESS, server.address)
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_grpcurl_examples(server: ServerProcess, client: ImageSearchClient) -> None:
    out = run_bash(readme_block("grpcurl"), server, REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert "imagesearch.v1.ImageSearchService" in out.stdout and '"status": "SERVING"' in out.stdout
    assert '"name": "collections/readme/items/bus-300"' in out.stdout and '"rank": 1' in out.stdout
    assert out.stdout.count('"item_id": "bus-300"') >= 4  # create, image search, text search, get
    # ListItems: the block reads page 1's token (it fails without one), and page 2, the last, has none.
    assert '"next_page_token"' not in out.stdout
    assert '"item_count": "2"' in out.stdout
    assert out.stdout.count('"purge_count": "2"') == 2  # the dry run, then the forced purge
    assert client.count_items("readme") == 0  # only the forced one deleted


def test_manage_items_examples(server: ServerProcess, tmp_path: Path) -> None:
    """The "Manage items" block, on a collection indexed from a few Corel photos as the quick start does."""
    folder = tmp_path / "corel"
    folder.mkdir()
    for i in (300, 301, 302, 600):
        (folder / f"{i}.jpg").symlink_to(corel_path(i))
    # Its own collection: the other README blocks use "photos" on this same server.
    block = readme_block("Manage items", "###").replace("-c photos", "-c readme-items")
    block = block.replace("collections update photos", "collections update readme-items")
    setup = f"imagesearch index {folder} -c readme-items --create\n"
    out = run_bash(setup + block, server, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1] == "1"  # count with the filter
    assert "would delete 1 item: 300.jpg" in out.stdout and "deleted 1 item: 300.jpg" in out.stdout
    assert "deleted 2 of 2 items" in out.stdout
    assert "--page-token" in out.stderr  # list printed one page of two
    assert lines[-1].startswith("readme-items\t1 item\t") and lines[-1].endswith("\tCorel-1K")


def test_python_example(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "shoe.jpg").symlink_to(corel_path(300))
    (tmp_path / "query.jpg").symlink_to(corel_path(301))
    code = readme_block("Use it", language="python").replace(README_ADDRESS, server.address)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4, out.stdout
    metadata = {"price": 59, "brand": "acme"}
    for line in lines[:2]:  # the image search, then the text search: rank, score, ID, metadata
        rank, score, item_id, rest = line.split(" ", 3)
        assert (rank, item_id, ast.literal_eval(rest)) == ("1", "sku-1", metadata) and 0 < float(score) <= 1
    item_id, rest = lines[2].split(" ", 1)  # list_items with the filter
    assert (item_id, ast.literal_eval(rest)) == ("sku-1", metadata)
    assert lines[3] == "StatusCode.NOT_FOUND ITEM_NOT_FOUND"


def node_lines() -> list[str]:
    """The `node ...` lines of the README's Node.js block."""
    section = (REPO_ROOT / "README.md").read_text().split("From Node.js", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no bash block after 'From Node.js'"
    return [line for line in block.group(1).splitlines() if line.startswith("node ")]


@pytest.mark.parametrize("proto_path", ["venv", "env"])
def test_node_examples(server: ServerProcess, client: ImageSearchClient, proto_path: str) -> None:
    """The Node lines (npm ci aside: node_modules is installed), finding google/api in .venv as
    after `make install`, or through IMAGESEARCH_PROTO_PATH."""
    env = {k: v for k, v in os.environ.items() if k != "IMAGESEARCH_PROTO_PATH"}
    if proto_path == "env":
        env["IMAGESEARCH_PROTO_PATH"] = str(Path(annotations_pb2.__file__).parents[2])
    elif not list((REPO_ROOT / ".venv" / "lib").glob("python3*/site-packages/google/api/annotations.proto")):
        pytest.skip("this checkout has no .venv with googleapis-common-protos")
    name = f"readme-node-{proto_path}"
    client.create_collection(name)
    for i in (600, 601, 300):
        client.create_item(name, InsertItem(image=corel_path(i).read_bytes(), id=f"{i}.jpg"))
    lines = node_lines()
    assert len(lines) == 2
    script = "set -euo pipefail\n" + "\n".join(lines).replace(README_ADDRESS, server.address).replace(
        " photos ", f" {name} ")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    hits = [json.loads(line) for line in out.stdout.splitlines()]
    assert hits[0]["name"] == f"collections/{name}/items/600.jpg" and hits[0]["rank"] == 1  # the image query
    assert len(hits) == 6 and hits[3]["item_id"] == "300.jpg"  # the text query: the bus first


def test_catalog_hygiene_examples(server: ServerProcess, tmp_path: Path) -> None:
    """The Duplicates and NSFW blocks, run in a folder holding the files they name."""
    (tmp_path / "catalog").mkdir()
    for name, index in (("photo.jpg", 300), ("query.jpg", 301), ("catalog/a.jpg", 500), ("catalog/b.jpg", 300)):
        (tmp_path / name).write_bytes(corel_path(index).read_bytes())
    outputs = {}
    for heading in ("Duplicates", "NSFW moderation"):
        # The quick start created "photos" before these examples.
        setup = "imagesearch collections create photos\n" if heading == "Duplicates" else ""
        out = run_bash(setup + readme_block(heading, "###"), server, tmp_path)
        assert out.returncode == 0, heading + ": " + out.stderr
        outputs[heading] = out.stdout
    duplicates = outputs["Duplicates"]
    assert "sku-1" in duplicates and '"skipped": true' in duplicates
    assert "collections/photos/items/b.jpg" in duplicates  # the bulk-loaded copy of photo.jpg, found by FindDuplicates
    moderation = outputs["NSFW moderation"]
    assert "threshold 0.8" in moderation
    assert '"skip_nsfw_scoring": true' in moderation and '"name": "collections/own-products"' in moderation
