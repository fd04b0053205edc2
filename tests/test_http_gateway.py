"""The HTTP/JSON API end to end: the real server process (its gRPC port behind the
gateway), the real curl binary, real Corel photos; and the README's curl lines as written."""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch.config import Settings, add_arguments, load_settings
from openapi_spec_validator import validate
from test_readme import readme_block

README_HTTP = "localhost:8080"
BUS, BUS2, DINOSAUR, HORSE = 300, 301, 400, 700  # Corel-1K: class = index // 100


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self):
        return json.loads(self.body)


def curl(server: ServerProcess, path: str, *args: str) -> Reply:
    """Runs the curl binary against the server's HTTP port; status, headers and body."""
    assert shutil.which("curl"), "curl is not installed"
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", *args, server.http_url + path],
        check=False, capture_output=True, timeout=120, cwd=REPO_ROOT,  # bytes: text mode would turn \r\n into \n
    )
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.decode().partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):  # curl shows the "100 Continue" of large uploads
        head, _, body = body.partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Reply(int(status_line.split()[1]), headers, body)


def create_collection(server: ServerProcess, collection_id: str) -> None:
    reply = curl(server, f"/v1/collections?collection_id={collection_id}", "-X", "POST", "-d", "{}")
    assert reply.status == 200, reply.body
    assert reply.json()["name"] == f"collections/{collection_id}"


def insert_file(server: ServerProcess, collection_id: str, index: int, item_id: str, **fields: str) -> Reply:
    parts = ["-F", f"image=@{corel_path(index)}", "-F", f"item_id={item_id}"]
    for name, value in fields.items():
        parts += ["-F", f"{name}={value}"]
    return curl(server, f"/v1/collections/{collection_id}/items", *parts)


@pytest.fixture(scope="module")
def photos(server: ServerProcess) -> str:
    """Collection "http-photos": two buses, a dinosaur and a horse, inserted as multipart files."""
    create_collection(server, "http-photos")
    for index, item_id in ((BUS, "bus/300 a"), (BUS2, "bus-301"), (DINOSAUR, "dino-400"), (HORSE, "horse-700")):
        reply = insert_file(server, "http-photos", index, item_id, metadata=json.dumps({"class": index // 100}))
        assert reply.status == 200, reply.body
    return "http-photos"


def test_insert_by_multipart_file(server: ServerProcess, photos: str) -> None:
    # The photos fixture inserted "bus/300 a"; its name percent-encodes the ID.
    reply = curl(server, f"/v1/collections/{photos}/items/bus%2F300%20a")
    assert reply.status == 200, reply.body
    item = reply.json()
    assert item["name"] == "collections/http-photos/items/bus%2F300%20a" and item["itemId"] == "bus/300 a"
    assert item["metadata"] == {"class": 3} and 0 <= item["nsfwScore"] <= 1
    # Inserting the same bytes again under another ID reports the duplicate.
    again = insert_file(server, photos, BUS, "bus-copy", duplicate_policy="DUPLICATE_POLICY_SKIP")
    assert again.status == 200, again.body
    assert again.json()["duplicate"] == {
        "item": "collections/http-photos/items/bus%2F300%20a", "exact": True, "score": 1, "skipped": True
    }


def test_insert_by_base64_json(server: ServerProcess) -> None:
    create_collection(server, "http-json")
    body = {"itemId": "h1", "image": {"content": base64.b64encode(corel_path(HORSE).read_bytes()).decode()},
            "item": {"metadata": {"kind": "horse"}}}
    reply = curl(server, "/v1/collections/http-json/items", "-H", "Content-Type: application/json",
                 "--data-binary", json.dumps(body))
    assert reply.status == 200, reply.body
    assert reply.json()["name"] == "collections/http-json/items/h1" and reply.json()["metadata"] == {"kind": "horse"}


def test_update_and_delete_an_item(server: ServerProcess) -> None:
    """PATCH with a body field and a field mask in the query; DELETE; then NOT_FOUND."""
    create_collection(server, "http-edit")
    assert insert_file(server, "http-edit", HORSE, "h/1", metadata='{"kind": "horse", "legs": 4}').status == 200
    item_path = "/v1/collections/http-edit/items/h%2F1"
    patched = curl(server, item_path + "?update_mask=metadata.kind", "-X", "PATCH", "-d", '{"metadata": {"kind": "pony"}}')
    assert patched.status == 200, patched.body
    assert patched.json()["metadata"] == {"kind": "pony", "legs": 4}
    deleted = curl(server, item_path, "-X", "DELETE")
    assert (deleted.status, deleted.json()) == (200, {})
    gone = curl(server, item_path)
    assert gone.status == 404
    assert gone.json()["error"]["details"][0]["reason"] == "ITEM_NOT_FOUND"


def test_search_by_file(server: ServerProcess, photos: str) -> None:
    reply = curl(server, f"/v1/collections/{photos}/items:search", "-F", f"image=@{corel_path(BUS)}", "-F", "top_k=2")
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    hits = reply.json()
    assert [h["rank"] for h in hits] == [1, 2]
    assert hits[0]["item"]["itemId"] == "bus/300 a" and hits[0]["score"] > 0.99
    assert hits[1]["item"]["itemId"] == "bus-301"  # the other bus beats the dinosaur and the horse


def test_search_by_text(server: ServerProcess, photos: str) -> None:
    reply = curl(server, f"/v1/collections/{photos}/items:search", "-X", "POST",
                 "-d", '{"text": "a red double-decker bus", "topK": 4, "filter": {"must": [{"exists": {"key": "class"}}]}}')
    assert reply.status == 200, reply.body
    hits = reply.json()
    assert len(hits) == 4 and {h["item"]["metadata"]["class"] for h in hits[:2]} == {3}


def test_search_streams_ndjson(server: ServerProcess, photos: str) -> None:
    args = ["-X", "POST", "-d", '{"text": "a dinosaur", "top_k": 3}']
    lines_reply = curl(server, f"/v1/collections/{photos}/items:search", "-H", "Accept: application/x-ndjson", *args)
    assert lines_reply.status == 200, lines_reply.body
    assert lines_reply.headers["content-type"] == "application/x-ndjson"
    assert lines_reply.headers.get("transfer-encoding") == "chunked"  # written as the hits arrive
    lines = [json.loads(line) for line in lines_reply.body.splitlines()]
    assert [hit["rank"] for hit in lines] == [1, 2, 3] and lines[0]["item"]["itemId"] == "dino-400"
    # The same hits as the default JSON array.
    array = curl(server, f"/v1/collections/{photos}/items:search", *args).json()
    assert [h["item"]["name"] for h in array] == [h["item"]["name"] for h in lines]


def test_list_items_with_paging(server: ServerProcess, photos: str) -> None:
    names, token, pages = [], "", 0
    while True:
        reply = curl(server, f"/v1/collections/{photos}/items?page_size=3&page_token={token}")
        assert reply.status == 200, reply.body
        page = reply.json()
        assert len(page["items"]) <= 3
        names += [item["name"] for item in page["items"]]
        pages += 1
        token = page["nextPageToken"]
        if not token:
            break
    assert pages == 2 and len(names) == len(set(names)) == 4
    filtered = curl(server, f"/v1/collections/{photos}/items", "-G", "--data-urlencode",
                    'filter={"must": [{"match": {"key": "class", "integer": 3}}]}').json()
    assert sorted(i["itemId"] for i in filtered["items"]) == ["bus-301", "bus/300 a"]
    count = curl(server, f"/v1/collections/{photos}/items:count").json()
    assert count == {"itemCount": "4"}  # int64 as a string, proto3 JSON


def test_error_carries_error_info(server: ServerProcess) -> None:
    reply = curl(server, "/v1/collections/no-such-collection/items/x")
    assert reply.status == 404
    error = reply.json()["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND" and error["message"]
    info = next(d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
    assert info["reason"] == "COLLECTION_NOT_FOUND" and info["domain"] == "imagesearch.v1"
    assert info["metadata"]["collection"] == "no-such-collection"


def test_validation_error_names_the_field(server: ServerProcess, photos: str) -> None:
    reply = curl(server, f"/v1/collections/{photos}/items:search", "-X", "POST", "-d", '{"text": "bus", "topK": 5000}')
    assert reply.status == 400, reply.body
    details = {d["@type"].rsplit(".", 1)[1]: d for d in reply.json()["error"]["details"]}
    assert details["ErrorInfo"]["reason"] == "FIELD_INVALID"
    assert details["BadRequest"]["fieldViolations"][0]["field"] == "top_k"


def test_errors_of_the_http_layer(server: ServerProcess, photos: str) -> None:
    not_json = curl(server, f"/v1/collections/{photos}/items:search", "-X", "POST", "-d", "{text")
    assert not_json.status == 400 and not_json.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert curl(server, f"/v1/collections/{photos}/items:search").status == 405  # a GET
    assert curl(server, "/v1/nothing/here").status == 404


def test_body_over_the_message_limit_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(33 * 1024 * 1024)  # the default limit is 32 MiB
    reply = curl(server, "/v1/images:moderate", "-F", f"image=@{big}")
    assert reply.status == 413 and reply.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_openapi_json_is_valid(server: ServerProcess) -> None:
    reply = curl(server, "/openapi.json")
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/json")
    doc = reply.json()
    validate(doc)  # OpenAPI 3.1, openapi-spec-validator
    assert doc["openapi"] == "3.1.0"
    assert "post" in doc["paths"]["/v1/collections/{collection}/items:search"]
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/v1/collections/{collection}/items/{item}"])


def test_healthz(server: ServerProcess) -> None:
    reply = curl(server, "/healthz")
    assert (reply.status, reply.json()) == (200, {"status": "SERVING"})


def test_http_port_setting_default_and_flag() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert load_settings(parser.parse_args(["--http-port", "0"]), environ={}).http_port == 0
    assert Settings().http_port == 8080


def test_readme_http_examples(server: ServerProcess) -> None:
    """The README's HTTP/JSON block, run as written against the test server."""
    host = server.http_url.removeprefix("http://")
    script = "set -euo pipefail\n" + readme_block("HTTP/JSON").replace(README_HTTP, host)
    out = subprocess.run(["bash", "-c", script], check=False, capture_output=True, text=True, cwd=REPO_ROOT,
                         env=dict(os.environ), timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"error"' not in out.stdout, out.stdout
    assert '"status":"SERVING"' in out.stdout
    assert '"name":"collections/web"' in out.stdout
    assert out.stdout.count('"itemId":"bus-300"') >= 4  # insert, search by file, by text, list
    assert '"itemId":"bus/301"' in out.stdout and "bus%2F301" in out.stdout
    # The second page (the first went into $token): the other item, and no further page.
    last_pages = [json.loads(line) for line in out.stdout.splitlines()
                  if line.startswith('{"items":') and line.endswith(',"nextPageToken":""}')]
    assert last_pages and len(last_pages[-1]["items"]) == 1
    assert last_pages[-1]["items"][0]["name"].startswith("collections/web/items/")
    assert '{"itemCount":"1"}' in out.stdout  # one item has class "bus"
