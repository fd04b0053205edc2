"""A real Node.js client (@grpc/grpc-js, loading the .proto files) gets the same answers."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch_client import ImageSearchClient, InsertItem

NODE_CLIENT = REPO_ROOT / "clients" / "node"


def node_search(*args: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node, "Node.js is needed for this test (it ships with the project's machines)"
    assert (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make node-deps` first"
    return subprocess.run([node, str(NODE_CLIENT / "search.js"), *args], capture_output=True, text=True, timeout=60)


def test_node_search_matches_python(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("node")
    for i in (500, 501, 502, 800):
        client.insert("node", InsertItem(image=corel_path(i).read_bytes(), id=f"n{i}", metadata={"i": i, "tags": ["a", "b"]}))
    out = node_search(server.address, "node", str(corel_path(501)), "3")
    assert out.returncode == 0, out.stderr
    node_hits = [json.loads(line) for line in out.stdout.splitlines()]
    python_hits = client.search("node", corel_path(501).read_bytes(), top_k=3)
    assert [h["id"] for h in node_hits] == [h.id for h in python_hits]
    assert node_hits[0]["metadata"] == {"i": 501, "tags": ["a", "b"]} and node_hits[0]["rank"] == 1
    assert abs(node_hits[0]["score"] - python_hits[0].score) < 1e-6


def test_node_sees_error_status(server: ServerProcess) -> None:
    out = node_search(server.address, "no-such-collection", str(corel_path(0)))
    assert out.returncode == 2
    assert "error: 5 " in out.stderr and "no-such-collection" in out.stderr  # 5 = NOT_FOUND
